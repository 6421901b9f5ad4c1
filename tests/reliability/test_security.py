"""Security basics against the service as users run it: security headers on every answer and
a Content-Security-Policy the map works under (and that stops an injected script), CORS only
for the configured origins, no start without a signing secret (or with CORS open to all with
credentials), rate-limited login, and no password, token, API key or database password in the
logs."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from service.auth import service as auth
from tests import factories
from tests.conftest import ARTIFACTS, TEST_DB, LiveServer, create_database, drop_database, free_port
from tests.reliability.conftest import Service, record_figures

ORIGIN = "https://map.mission.example"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FOUND = CHROMIUM.exists()
HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


@dataclass
class Secured:
    service: Service
    url: str
    api_key: str


@pytest.fixture(scope="module")
async def secured() -> AsyncIterator[Secured]:
    name = f"{TEST_DB}_security"
    url = await create_database(name)
    engine = create_async_engine(url)
    try:
        await factories.build_world(engine)
        async with AsyncSession(engine) as session:
            _, key = await auth.create_api_key(session, "analyst", "security test")
    finally:
        await engine.dispose()
    log = ARTIFACTS / "reliability-security-server.log"
    log.unlink(missing_ok=True)
    service = Service(
        url,
        log.name,
        settings={"CIVOP_CORS_ORIGINS": json.dumps([ORIGIN]), "CIVOP_BEHIND_TLS": "1"},
    )
    await service.start()
    try:
        yield Secured(service, url, key)
    finally:
        service.stop()
        await drop_database(name)


def _checked(response: httpx.Response, hsts: bool) -> None:
    where = f"{response.request.method} {response.request.url.path} ({response.status_code})"
    for name, value in HEADERS.items():
        assert response.headers.get(name) == value, (where, name)
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"], where
    assert ("strict-transport-security" in response.headers) == hsts, where


async def test_every_answer_carries_the_security_headers(
    secured: Secured, live_server: LiveServer
) -> None:
    key = {"X-API-Key": secured.api_key}
    async with httpx.AsyncClient(base_url=secured.service.url, timeout=30) as http:
        paths = (await http.get("/openapi.json")).json()["paths"]
        plain = [p for p, ops in paths.items() if "get" in ops and "{" not in p]
        answers = []
        for path in plain:  # streamed: the live stream never ends by itself
            async with http.stream("GET", path, headers=key) as answer:
                answers.append(answer)
        answers += [
            await http.get("/docs"),
            await http.get("/static/viewer/civop-map.js"),
            await http.get("/api/incidents"),  # 401
            await http.get("/api/incidents/00000000-0000-0000-0000-000000000000", headers=key),
            await http.get("/api/incidents?bbox=nonsense", headers=key),  # 422
            await http.get("/collections/incidents/tiles/WebMercatorQuad/6/36/31", headers=key),
            await http.get("/api/incidents/export?format=csv", headers=key),
            await http.post("/api/incidents", content=b"x" * (17 * 1024 * 1024), headers=key),
            await http.options(
                "/api/incidents",
                headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"},
            ),
        ]
    statuses = sorted({a.status_code for a in answers})
    assert {200, 401, 404, 413, 422} <= set(statuses)
    for answer in answers:
        _checked(answer, hsts=True)
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        _checked(await http.get("/health"), hsts=False)  # not behind TLS: no HSTS
    record_figures(
        "security-headers",
        {"answers": len(answers), "statuses": statuses},
        [f"{len(answers)} answers ({', '.join(map(str, statuses))}) all carry the headers"],
    )


def _inline_script_hashes(page: str) -> set[str]:
    scripts = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", page, re.S)
    return {
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in scripts
    }


async def test_the_map_works_under_its_content_security_policy(secured: Secured) -> None:
    async with httpx.AsyncClient(base_url=secured.service.url) as http:
        page = await http.get("/map")
    policy = dict(
        part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";")
    )
    script_src = set(policy["script-src"].split())
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert _inline_script_hashes(page.text) and _inline_script_hashes(page.text) <= script_src
    assert policy["connect-src"] == "'self'"

    if not CHROMIUM_FOUND:
        pytest.fail("Chromium missing: run scripts/system.sh (apt-get install chromium)")
    from playwright.async_api import async_playwright

    console: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            tab = await (await browser.new_context()).new_page()  # the policy is enforced
            tab.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
            tab.on("pageerror", lambda error: console.append(f"uncaught: {error}"))
            await tab.goto(f"{secured.service.url}/map")
            await tab.fill("#civop-username", "analyst")
            await tab.fill("#civop-password", factories.PASSWORD)
            await tab.click("#civop-login-submit")
            ready = False
            for _ in range(100):
                ready = await tab.evaluate(
                    "Boolean(window.civop && civop.ready.incidents !== undefined "
                    "&& civop.ready.idp_sites !== undefined)"
                )
                if ready:
                    break
                await asyncio.sleep(0.1)
            assert ready, console
            policy_errors = [m for m in console if "Content Security Policy" in m]
            assert policy_errors == [], policy_errors
            injected = await tab.evaluate(
                "(() => { const s = document.createElement('script');"
                " s.textContent = 'window.injected = true'; document.body.appendChild(s);"
                " return window.injected === true; })()"
            )
            assert injected is False  # an injected inline script does not run
        finally:
            await browser.close()


async def test_cors_answers_only_the_configured_origins(secured: Secured) -> None:
    key = {"X-API-Key": secured.api_key}
    preflight = {
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "x-api-key",
    }
    async with httpx.AsyncClient(base_url=secured.service.url) as http:
        allowed = await http.options("/api/incidents", headers={"Origin": ORIGIN, **preflight})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == ORIGIN
        assert "access-control-allow-credentials" not in allowed.headers
        read = await http.get("/api/incidents", headers={"Origin": ORIGIN, **key})
        assert read.headers["access-control-allow-origin"] == ORIGIN

        stranger = "https://elsewhere.example"
        refused = await http.options("/api/incidents", headers={"Origin": stranger, **preflight})
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers
        read = await http.get("/api/incidents", headers={"Origin": stranger, **key})
        assert "access-control-allow-origin" not in read.headers


def _start(settings: dict[str, str], database_url: str) -> subprocess.CompletedProcess[str]:
    """Start the service as `civop serve` does and let it refuse (or give up after 30 s)."""
    env = {k: v for k, v in os.environ.items() if k not in ("CIVOP_SECRET_KEY", "CIVOP_DEMO")}
    env.update(DATABASE_URL=database_url.replace("postgresql+asyncpg://", "postgresql://"))
    env.update(settings)
    argv = [sys.executable, "-m", "uvicorn", "service.main:app_factory", "--factory"]
    return subprocess.run(
        [*argv, "--port", str(free_port())], env=env, capture_output=True, text=True, timeout=30
    )


async def test_the_service_refuses_to_start_without_a_proper_secret_or_with_open_cors(
    secured: Secured,
) -> None:
    long_secret = "s" * 40
    missing = _start({}, secured.url)
    assert missing.returncode != 0
    assert "CIVOP_SECRET_KEY must be set" in missing.stderr

    short = "short-but-secret"
    too_short = _start({"CIVOP_SECRET_KEY": short}, secured.url)
    assert too_short.returncode != 0
    assert "CIVOP_SECRET_KEY must be at least 32 characters long" in too_short.stderr
    assert short not in too_short.stderr + too_short.stdout

    star = _start(
        {
            "CIVOP_SECRET_KEY": long_secret,
            "CIVOP_CORS_ORIGINS": '["*"]',
            "CIVOP_CORS_ALLOW_CREDENTIALS": "1",
        },
        secured.url,
    )
    assert star.returncode != 0
    assert "CIVOP_CORS_ORIGINS must list the origins" in star.stderr

    demo = Service(secured.url, "reliability-demo-server.log", settings={"CIVOP_DEMO": "1"})
    env_secret = os.environ.pop("CIVOP_SECRET_KEY")
    try:
        await demo.start()  # the demo runs with a generated secret
    finally:
        os.environ["CIVOP_SECRET_KEY"] = env_secret
        demo.stop()


async def test_failed_logins_are_limited(secured: Secured) -> None:
    async with httpx.AsyncClient(base_url=secured.service.url) as http:

        async def login(username: str, password: str) -> httpx.Response:
            return await http.post("/auth/token", data={"username": username, "password": password})

        answers = [(await login("officer", f"guess-{i}")).status_code for i in range(5)]
        assert answers == [401] * 5
        blocked = await login("officer", "guess-5")
        assert blocked.status_code == 429
        assert int(blocked.headers["retry-after"]) > 0
        assert (await login("officer", factories.PASSWORD)).status_code == 429  # even right
        assert (await login("admin", factories.PASSWORD)).status_code == 200  # others go on


async def _use_with_secrets(service: Service, api_key: str, wrong_password: str) -> str:
    """Sign in right and wrong, and use a token and an API key, right and wrong: the token."""
    async with httpx.AsyncClient(base_url=service.url) as http:
        token = (
            await http.post(
                "/auth/token", data={"username": "analyst", "password": factories.PASSWORD}
            )
        ).json()["access_token"]
        await http.post("/auth/token", data={"username": "analyst", "password": wrong_password})
        assert (
            await http.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
        ).status_code == 200
        assert (await http.get("/api/incidents", headers={"X-API-Key": api_key})).status_code == 200
        await http.get("/api/incidents", headers={"X-API-Key": api_key + "x"})
        await http.get("/api/incidents", headers={"Authorization": f"Bearer {token}x"})
    return str(token)


async def test_no_secrets_in_the_logs(secured: Secured, tmp_path: Path) -> None:
    wrong_password = "wrong-password-4f1c2e"
    # A service of its own, whose whole log this test reads once it has stopped.
    logged = Service(
        secured.url,
        f"reliability-secrets-server-{uuid.uuid4().hex[:8]}.log",
        settings=secured.service.settings,
    )
    await logged.start()
    try:
        token = await _use_with_secrets(logged, secured.api_key, wrong_password)
    finally:
        logged.stop()

    db_password = "db-password-9b7d3a"
    unreachable = f"postgresql://civop:{db_password}@127.0.0.1:{free_port()}/civop"
    broken = Service(unreachable, "reliability-broken-db-server.log")
    broken._spawn()
    try:
        async with httpx.AsyncClient(base_url=broken.url, timeout=10) as http:
            # Within the minute a start is given on a loaded machine (``Service.start``).
            deadline = time.monotonic() + 60
            health = None
            while health is None and time.monotonic() < deadline:
                try:
                    health = await http.get("/health")
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            assert health is not None, f"the service did not start; see {broken.log_path}"
            assert health.status_code == 503
            down = await http.get("/api/incidents", headers={"Authorization": f"Bearer {token}"})
            assert down.status_code == 503
            await asyncio.sleep(1)
    finally:
        broken.stop()
    cli = subprocess.run(
        [sys.executable, "-m", "service.cli", "backup", str(tmp_path / "x.dump")],
        env={**os.environ, "DATABASE_URL": unreachable},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 1

    logs = {
        "service": logged.log_path.read_text(),
        "service with an unreachable database": broken.log_path.read_text(),
        "civop backup": cli.stdout + cli.stderr,
    }
    secrets = {
        "password": factories.PASSWORD,
        "wrong password": wrong_password,
        "token": token,
        "API key": secured.api_key,
        "database password": db_password,
        "signing secret": os.environ["CIVOP_SECRET_KEY"],
    }
    for where, text in logs.items():
        assert text.strip(), f"nothing was logged by the {where}"
        for what, secret in secrets.items():
            assert secret not in text, f"the {what} appears in the log of the {where}"
    record_figures(
        "security-logs",
        {"log_lines": {k: len(v.splitlines()) for k, v in logs.items()}},
        [
            f"{sum(len(v.splitlines()) for v in logs.values())} log lines from {len(logs)} "
            f"processes hold none of {len(secrets)} secrets ({', '.join(secrets)})"
        ],
    )
