"""Run the service's write and read paths against a Citus coordinator (docs/scaling.md,
"Checked on Citus") and say what ran.

The database must be new: created with the citus and postgis extensions on every node, the
workers added, migrated with ``civop db upgrade`` and laid out with ``docs/citus.sql``. The
script writes test records into it (a small mission, imports, the demo). Exit status 1 when a
step does not give what it should.

    DATABASE_URL=postgresql://civop@127.0.0.1:56100/civop .venv/bin/python scripts/citus_check.py
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("CIVOP_SECRET_KEY", "citus-check-signing-key-" + "x" * 32)

import asyncpg  # noqa: E402
from httpx import ASGITransport, AsyncClient, Response  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine  # noqa: E402

from service.auth.security import issue_token  # noqa: E402
from service.config import get_settings  # noqa: E402
from service.demo.load import load_demo  # noqa: E402
from service.main import create_app  # noqa: E402
from tests import factories  # noqa: E402
from tests.test_imports import upload  # noqa: E402
from tests.test_imports_bulk import _many  # noqa: E402
from tests.test_requests import request_feature  # noqa: E402

WINDOW = "2020-01-01T00:00:00Z/2030-01-01T00:00:00Z"
failures: list[str] = []


def check(what: str, ok: bool, detail: str = "") -> None:
    print(f"{'ok  ' if ok else 'FAIL'} {what}{': ' + detail if detail else ''}", flush=True)
    if not ok:
        failures.append(what)


def answered(what: str, response: Response, status: int) -> Any:
    ok = response.status_code == status
    check(f"{what} ({response.status_code})", ok, "" if ok else response.text[:300])
    if ok and "json" in response.headers.get("content-type", ""):
        return response.json()
    return {}


async def writes(client: AsyncClient, headers: Callable[[str], dict[str, str]]) -> None:
    for collection, change in (("incidents", {"severity": 4}), ("patrols", {"unit": "X"})):
        created = answered(
            f"API create {collection}",
            await client.post(
                f"/api/{collection}", json=factories.feature(collection), headers=headers("admin")
            ),
            201,
        )
        url = f"/api/{collection}/{created.get('id')}"
        answered(
            f"API change {collection}",
            await client.patch(url, json={"properties": change}, headers=headers("admin")),
            200,
        )
        answered(
            f"API delete {collection}", await client.delete(url, headers=headers("admin")), 204
        )
    actor = answered(
        "API create actor",
        await client.post(
            "/api/actors",
            json=factories.feature("actors", name="Kalembe Relief", classification="public"),
            headers=headers("admin"),
        ),
        201,
    )
    project = answered(
        "API create project",
        await client.post(
            "/api/projects",
            json=factories.feature("projects", status="proposed"),
            headers=headers("admin"),
        ),
        201,
    )
    answered(
        "project status change",
        await client.post(
            f"/api/projects/{project.get('id')}/status",
            json={"status": "approved", "reason": "QIP committee"},
            headers=headers("admin"),
        ),
        200,
    )
    history = answered(
        "project history",
        await client.get(f"/api/projects/{project.get('id')}/history", headers=headers("admin")),
        200,
    )
    steps = [(h["from_status"], h["to_status"]) for h in history.get("history", [])]
    check(
        "project history reads proposed, then approved",
        steps == [(None, "proposed"), ("proposed", "approved")],
        str(steps),
    )
    request = answered(
        "request submitted",
        await client.post(
            "/api/assistance_requests",
            json=request_feature(actor.get("id")),
            headers=headers("officer"),
        ),
        201,
    )
    answered(
        "request reviewed",
        await client.post(
            f"/api/assistance_requests/{request.get('id')}/review",
            json={"note": "complete and within the means"},
            headers=headers("officer"),
        ),
        200,
    )


async def imports(client: AsyncClient, headers: Callable[[str], dict[str, str]]) -> None:
    folder = Path(tempfile.mkdtemp(prefix="civop-citus-"))
    settings = get_settings()
    jobs = []
    for label, path, bulk, expected in (
        ("import of 1,100", _many(folder, 1_100, "few", seed=1), False, (1_100, 0)),
        (
            "re-import, 550 changed",
            _many(folder, 1_200, "few", moved=550, seed=1),
            False,
            (100, 550),
        ),
        ("import over the bulk threshold", _many(folder, 120, "bulk", seed=2), True, (120, 0)),
        ("re-import over it", _many(folder, 120, "bulk", moved=30, seed=2), True, (0, 30)),
    ):
        settings.import_bulk_rows = 50 if bulk else 100_000
        job = answered(label, await upload(client, headers, path, collection="incidents"), 201)
        counts = (job.get("created"), job.get("updated"))
        check(f"{label}: created, updated", counts == expected, str(counts))
        jobs.append(job)
    for job, message in zip(
        (jobs[3], jobs[2], jobs[1]),
        ("0 record(s) removed, 30 restored", "90 record(s) removed", "100 record(s) removed, 550"),
        strict=True,
    ):
        undone = answered(
            "rollback",
            await client.post(f"/api/imports/{job.get('id')}/rollback", headers=headers("officer")),
            200,
        )
        check(
            f"rollback: {message}",
            message in str(undone.get("message")),
            str(undone.get("message")),
        )


async def reads(client: AsyncClient, headers: Callable[[str], dict[str, str]]) -> None:
    for user in ("partner", "analyst", "admin"):
        for url in (
            "/collections/incidents/items?bbox=23,3,29,9&limit=100",
            "/collections/incidents/items?limit=10&sortby=-occurred_at",
            "/collections/incidents/tiles/WebMercatorQuad/6/36/31",
            "/collections/incidents",
            "/collections/patrols/items?limit=10",
            "/api/incidents/export?format=csv",
            f"/api/analysis/proximity?datetime={WINDOW}&radius_km=10",
            f"/api/analysis/exposure?datetime={WINDOW}",
            f"/api/analysis/hotspots?datetime={WINDOW}&bbox=23,3,29,9",
            f"/api/analysis/emerging-hotspots?datetime={WINDOW}&bbox=23,3,29,9",
            f"/api/analysis/coverage-gaps?datetime={WINDOW}",
            f"/api/analysis/risk?datetime={WINDOW}&bbox=23,3,29,9",
        ):
            answered(f"{user} GET {url}", await client.get(url, headers=headers(user)), 200)


async def notifications(dsn: str) -> None:
    listener, writer = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    heard: list[str] = []
    await listener.add_listener("civop_changes", lambda *args: heard.append(args[3]))
    await writer.execute("UPDATE users SET disabled = NOT disabled WHERE username = 'analyst'")
    await writer.execute("UPDATE users SET disabled = NOT disabled WHERE username = 'analyst'")
    await writer.execute("UPDATE api_keys SET name = name WHERE false")
    await asyncio.sleep(0.5)
    check(
        "a change of users and of api_keys is announced by table name",
        {"users", "api_keys"} <= set(heard),
        str(sorted(set(heard))),
    )
    await listener.close()
    await writer.close()


async def audit(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT collection, action, count(*) FROM audit_log GROUP BY 1, 2 ORDER BY 1, 2"
                )
            )
        ).all()
    for collection, action, count in rows:
        print(f"     audit {collection} {action}: {count:,}")
    named = {collection for collection, _, _ in rows}
    check(
        "audit rows are named by table, not by shard",
        not any(name.rsplit("_", 1)[-1].isdigit() for name in named),
        str(sorted(named)),
    )


async def main() -> None:
    url = get_settings().database_url
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        citus = await conn.scalar(
            text("SELECT to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL")
        )
        fresh = not await conn.scalar(text("SELECT EXISTS (SELECT 1 FROM users)"))
    if not citus or not fresh:
        sys.exit("this needs a new civop database on a Citus coordinator (see the docstring)")
    world = await factories.build_world(engine)
    key = get_settings().signing_key()

    def headers(user: str) -> dict[str, str]:
        token, _ = issue_token(world.users[user], key, timedelta(minutes=30))
        return {"Authorization": f"Bearer {token}"}

    app = create_app()
    async with app.router.lifespan_context(app):
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://civop") as client:
            await writes(client, headers)
            await imports(client, headers)
            await reads(client, headers)
    counts = await load_demo(engine, incidents=3_000)
    check("demo loader", counts.get("incidents") == 3_000, str(counts))
    await notifications(dsn)
    await audit(engine)
    await engine.dispose()
    print(f"\n{len(failures)} failed" if failures else "\nevery step ran")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    asyncio.run(main())
