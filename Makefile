# Two commands on a fresh machine: `make run` serves the demo, `make test` runs every check.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
VENV := .venv
BIN := $(VENV)/bin
ENV := source scripts/env.sh &&
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test stop status setup system venv db migrate demo lint typecheck pytest clean

run: setup  ## set everything up, load the demo when the database is empty, serve the API and map
	export CIVOP_DEMO=1 CIVOP_TIME_ZONE=$${CIVOP_TIME_ZONE:-Africa/Bangui} \
	  CIVOP_ALERT_LANGUAGES=$${CIVOP_ALERT_LANGUAGES:-'["en","fr"]'} && $(ENV) \
	  $(BIN)/civop demo --if-empty && $(BIN)/civop user demo-accounts && \
	  $(BIN)/civop serve --host $(HOST) --port $(PORT)

test: setup lint typecheck pytest  ## ruff, mypy and the whole test suite against a throwaway database

stop:  ## stop the project-local PostgreSQL cluster
	scripts/pg.sh stop

status:  ## whether the project-local cluster runs, and where its data and socket are
	scripts/pg.sh status

setup: venv assets catalogs db migrate basemap

# Translations (docs/languages.md): `make messages` extracts every text marked with _() or N_()
# (and say() in geo/, whose messages the service translates)
# in the code and templates (babel.cfg) into service/locale/civop.pot and merges it into each
# language's catalog service/locale/<lang>/LC_MESSAGES/civop.po, where new texts appear with an
# empty translation (tests/test_i18n_catalogs.py fails until they are translated). `make
# catalogs` compiles the .po files to .mo (not committed; part of `make setup`).
LOCALES := $(wildcard service/locale/*/LC_MESSAGES/civop.po)
.PHONY: messages catalogs
messages: venv
	$(BIN)/pybabel -q extract -F babel.cfg -k N_ -k say --no-location --sort-output --ignore-dirs '.* _* node_modules' \
	  --project civop --msgid-bugs-address '' -o service/locale/civop.pot service geo
	$(BIN)/pybabel -q update -D civop -i service/locale/civop.pot -d service/locale \
	  --no-fuzzy-matching --ignore-obsolete
catalogs: venv $(LOCALES:.po=.mo)
service/locale/%/LC_MESSAGES/civop.mo: service/locale/%/LC_MESSAGES/civop.po
	$(BIN)/pybabel -q compile -D civop -d service/locale -l $*

# The demo's basemap (rivers, roads, built-up areas of its towns), rendered from code with
# Pillow into an MBTiles file and registered in .civop; about 1 MB, half a minute.
.PHONY: basemap
basemap: .civop/basemap.mbtiles
.civop/basemap.mbtiles: $(VENV)/.installed geo/demo_map.py geo/basemap.py $(wildcard service/demo/*.py)
	mkdir -p .civop
	$(ENV) $(BIN)/civop basemap demo --out .civop/demo-basemap.mbtiles

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

# The map's JavaScript and CSS (Leaflet and two plugins) from the npm registry, pinned by
# service/viewer/package-lock.json, into service/viewer/node_modules (not committed).
VIEWER := service/viewer
.PHONY: assets
assets: $(VIEWER)/node_modules/.installed
$(VIEWER)/node_modules/.installed: $(VIEWER)/package.json $(VIEWER)/package-lock.json
	cd $(VIEWER) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

system:  ## Debian packages: PostGIS, GDAL
	scripts/system.sh

db: system
	scripts/pg.sh ensure

migrate: venv db
	$(ENV) $(BIN)/civop db upgrade

demo: setup
	$(ENV) $(BIN)/civop demo $(ARGS)

lint: venv
	$(BIN)/ruff check service geo tests bench migrations
	$(BIN)/ruff format --check service geo tests bench migrations
	$(BIN)/lint-imports

typecheck: venv
	$(BIN)/mypy

# The suite in parallel worker processes (pytest-xdist), each on a throwaway database of its
# own; the reliability tests together in one of them (see tests/conftest.py).
# The service's modules are compiled once first: the suite starts a few hundred Python
# processes (servers, workers, the command line), and with PYTHONDONTWRITEBYTECODE set each
# would compile them again.
PYTEST_WORKERS ?= 3
pytest: venv db ogctests
	$(BIN)/python -m compileall -q service geo
	$(ENV) $(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadscope $(PYTEST_ARGS)

# The guides' screenshots (docs/images/): the tests that take them, with CIVOP_DOCS_IMAGES=1 so
# that they copy them there (a plain run leaves docs/images/ alone; docs/developers.md).
DOCS_IMAGE_TESTS := tests/test_viewer_map.py tests/test_workspace_imports.py \
  tests/test_workspace_draw.py tests/test_workspace_admin.py
.PHONY: docs-images
docs-images: setup  ## refresh docs/images/ from the browser tests' screenshots
	export CIVOP_DOCS_IMAGES=1 && $(ENV) $(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadscope \
	  $(DOCS_IMAGE_TESTS) $(PYTEST_ARGS)

# The OGC API - Features Part 1 test suite (PyPI `ogctests`) in an environment of its own: it
# pins an older pytest and httpx than the service's. tests/test_ogc_clients.py runs it.
OGCTESTS := .venv-ogctests
.PHONY: ogctests
ogctests: $(OGCTESTS)/.installed
$(OGCTESTS)/.installed:
	python3 -m venv $(OGCTESTS)
	$(OGCTESTS)/bin/python -m pip install -q 'ogctests==0.1.15'
	touch $@

# `make test` runs the same suite with a 15 s load; the figures close the pytest output and are
# kept in artifacts/reliability/*.json.
.PHONY: reliability
reliability: setup  ## tests/reliability with a 60 s load: load, database restarts, SIGKILL, hostile input, limits, security, backup; prints the figures
	$(ENV) CIVOP_LOAD_SECONDS=$${CIVOP_LOAD_SECONDS:-60} $(BIN)/pytest tests/reliability $(PYTEST_ARGS)

clean:  ## stop the cluster and delete it (wherever it lives), .civop and the venv
	scripts/pg.sh remove
	rm -rf .civop $(VENV)

# wrk, the load generator of the layer and replica benchmarks (Debian package `wrk`).
.PHONY: bench-system
bench-system:
	scripts/system.sh bench

# The 1,000,000-incident benchmark database (CIVOP_BENCH_DB, by default civop_bench): built once,
# migrated before every benchmark and checked against a freshly migrated schema, so that it
# never lags the migrations.
.PHONY: bench-db
bench-db: setup  ## build or migrate the 1M-incident benchmark database and check its schema
	$(ENV) $(BIN)/python -m bench.common

bench-layers: setup bench-system bench-db  ## map layers side by side with tipg on the 1M-incident database
	$(ENV) $(BIN)/python -m bench.bench_layers $(ARGS)

bench-analysis: setup  ## POC analysis on the 1M-incident database (+2,000 sites), vs GeoPandas
	$(ENV) $(BIN)/python -m bench.bench_analysis $(ARGS)

.PHONY: bench-import
bench-import: setup  ## 1,000,000 points into incidents with civop import, side by side with ogr2ogr
	$(ENV) $(BIN)/python bench/bench_import.py $(ARGS)

.PHONY: bench-replica
bench-replica: setup bench-system bench-db  ## tile throughput against the primary alone and primary + streaming replica
	$(ENV) $(BIN)/python -m bench.bench_replica $(ARGS)

.PHONY: bench-viewer
bench-viewer: setup bench-db  ## the analysts' map in headless Chromium on the 1M-incident database
	$(ENV) $(BIN)/python -m bench.bench_viewer $(ARGS)

.PHONY: bench-jobs
bench-jobs: setup bench-db  ## exports of 1,000,000 incidents in every format and a CIV-OES PDF, in the job worker, with /health p99 meanwhile
	$(ENV) $(BIN)/python -m bench.bench_jobs $(ARGS)
