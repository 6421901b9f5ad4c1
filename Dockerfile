# The civop service against an external PostGIS (DATABASE_URL). Build: docker build -t civop .

# The map's JavaScript and CSS, from the npm registry, pinned by the lock file.
FROM node:20-bookworm-slim AS assets
WORKDIR /viewer
COPY service/viewer/package.json service/viewer/package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund

FROM python:3.11-slim-bookworm AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client \
       libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 civop \
    && mkdir -p /var/lib/civop/jobs && chown civop /var/lib/civop/jobs

# Uploads waiting for a worker and jobs' results: a volume shared by the API and the workers.
ENV CIVOP_JOBS_DIR=/var/lib/civop/jobs
VOLUME /var/lib/civop/jobs

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY service ./service
COPY geo ./geo
COPY migrations ./migrations
COPY --from=assets /viewer/node_modules ./service/viewer/node_modules
# Installed in place: the map's static files and the CAP schema are read from the source tree.
RUN pip install -e .

USER civop
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health').status != 200)"

# Migrate, then serve. DATABASE_URL and CIVOP_SECRET_KEY come from the environment.
# The job workers run from the same image as a service of their own: `civop worker`.
CMD ["sh", "-c", "civop db upgrade && exec uvicorn service.main:app_factory --factory --host 0.0.0.0 --port 8000 --proxy-headers"]
