"""The application: settings checked, one pool opened in the lifespan, routers mounted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from service import errors, http_headers, idempotency, openapi
from service.alerts import lifecycle as alerts_lifecycle
from service.alerts.views import router as alerts_router
from service.analysis.views import router as analysis_router
from service.audit.views import router as audit_router
from service.auth import security
from service.auth.admin_views import router as admin_router
from service.auth.throttle import LoginLimits
from service.auth.views import router as auth_router
from service.basemap.views import router as basemap_router
from service.changes import ChangeAwareCache, ChangeListener
from service.collections.registry import COLLECTIONS
from service.config import Settings, get_settings
from service.core.routes import collection_router
from service.db import create_engine, create_health_engine, sessionmaker_for
from service.exports.views import router as exports_router
from service.field_reports.views import router as field_reports_router
from service.imports.views import router as imports_router
from service.incidents.timeline import router as timeline_router
from service.jobs.views import router as jobs_router
from service.layers import apidoc
from service.layers.groups import GroupKeeper
from service.layers.heat import router as heat_router
from service.layers.protocol import OgcHttp
from service.layers.tiles import TileCache
from service.layers.views import layer_routers
from service.places.views import router as places_router
from service.prints.views import router as prints_router
from service.projects.views import router as projects_router
from service.read_replicas import ReadRouter
from service.reports.views import router as reports_router
from service.request_language import RequestLanguage
from service.requests.views import router as requests_router
from service.sites.views import router as sites_router
from service.viewer.views import router as viewer_router
from service.workspace import install as install_workspace

DESCRIPTION = """
The civilian operational picture of a UN peacekeeping mission: actors, IDP sites, projects,
incidents, patrols, bases and sectors as GeoJSON, with who may see what applied to every answer.

Log in with `POST /auth/token` and send `Authorization: Bearer <token>`, or send an API key in
`X-API-Key`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.check_serving()
        engine = create_engine(settings)
        app.state.engine = engine
        app.state.health_engine = create_health_engine(settings)
        app.state.sessionmaker = sessionmaker_for(engine)
        app.state.login_limits = LoginLimits.of(settings)
        app.state.tile_cache = TileCache(settings.tile_cache_mb * 1024 * 1024)
        changes = ChangeListener(settings.database_url)
        app.state.changes = changes
        app.state.principals = ChangeAwareCache(
            changes, {"users", "api_keys", "sectors"}, settings.auth_cache_s
        )
        # With replicas, a version is read where the tiles are read: keep it only briefly.
        version_ttl = 1.0 if settings.read_urls else 3600.0
        app.state.layer_versions = ChangeAwareCache(changes, set(COLLECTIONS), ttl_s=version_ttl)
        app.state.reads = ReadRouter(settings, app.state.sessionmaker)
        app.state.point_groups = GroupKeeper(app.state.sessionmaker, changes)
        # The sign-in of an unknown user takes as long as anyone's from the first one on.
        security.prepare_dummy_hash()
        changes.start()
        alerts_lifecycle.start(app, settings)
        app.state.point_groups.start()
        try:
            yield
        finally:
            await app.state.point_groups.stop()
            await alerts_lifecycle.stop(app)
            await changes.stop()
            await app.state.reads.dispose()
            await app.state.health_engine.dispose()
            await engine.dispose()

    # /docs is served by openapi.serve_docs from the service's own copy of Swagger UI.
    app = FastAPI(
        title="civop",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    errors.install(app)
    idempotency.install(app)
    http_headers.install(app, settings)

    @app.get(
        "/health",
        tags=["health"],
        summary="Service and database state",
        responses={503: {"description": "The database is unreachable (`Retry-After` given)."}},
    )
    async def health(request: Request) -> JSONResponse:
        try:
            async with asyncio.timeout(settings.db_connect_timeout_s + 1):
                async with request.app.state.health_engine.connect() as connection:
                    row = (
                        await connection.execute(
                            text(
                                "SELECT postgis_lib_version(), (SELECT version_num FROM alembic_version)"
                            )
                        )
                    ).one()
        except Exception as error:  # any failure to reach the database is an outage
            errors.log.warning("health: database unavailable: %s", type(error).__name__)
            return JSONResponse(
                {"status": "unavailable", "database": "down"},
                status_code=503,
                headers={"Retry-After": "5"},
            )
        return JSONResponse({"status": "ok", "database": "ok", "postgis": row[0], "schema": row[1]})

    _document_geojson_responses(app)
    openapi.document_errors(app)
    apidoc.declare_part1_parameters(app)
    app.add_middleware(OgcHttp)
    app.add_middleware(RequestLanguage)
    openapi.serve_docs(app)
    # The map's layers first: tiles and items are most of the requests, matched in route order.
    for layer_router in layer_routers():
        app.include_router(layer_router)
    app.include_router(heat_router)
    app.include_router(auth_router)
    app.include_router(admin_router)
    app.include_router(imports_router)
    app.include_router(exports_router)
    app.include_router(jobs_router)
    app.include_router(places_router)  # before /api/places/{id}
    app.include_router(basemap_router)
    app.include_router(timeline_router)  # before /api/incidents/{id}
    app.include_router(field_reports_router)
    app.include_router(prints_router)
    for collection in COLLECTIONS.values():
        if collection.domain_routes:
            app.include_router(collection_router(collection))
    app.include_router(requests_router)
    app.include_router(projects_router)
    app.include_router(reports_router)
    app.include_router(sites_router)
    app.include_router(audit_router)
    app.include_router(analysis_router)
    app.include_router(alerts_router)
    app.include_router(viewer_router)
    install_workspace(app)
    return app


def _document_geojson_responses(app: FastAPI) -> None:
    """GeoJSON routes return pre-serialised bodies; keep only their documented model schema
    (FastAPI also marks such bodies as plain strings)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    for response in operation.get("responses", {}).values():
                        for content in response.get("content", {}).values():
                            body = content.get("schema", {})
                            if "$ref" in body:
                                body.pop("type", None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def app_factory() -> FastAPI:
    return create_app()
