"""The analysts' map on the 1,000,000-incident demo database, in headless Chromium.

One service process (one uvicorn worker, tile cache on) on the benchmark database; Debian's
Chromium driven by Playwright, at 1400 x 900, signed in as an admin (the token put in the
tab's session storage, as the page's own sign-in does), with the page's default period (the
90 days up to the newest incident). Every request stays on loopback.

- first load: from navigation to the incidents layer drawn (the page's own performance mark,
  set when the first heat tiles are painted, read from the attribute the page shows it in:
  the page runs under its real Content-Security-Policy, which forbids the eval Playwright's
  wait_for_function needs), and to every layer shown on opening drawn; bytes
  transferred (Chrome's encoded sizes, headers included), with a browser that has cached
  nothing. Measured with the server's caches cold (just started), then warm.
- opened at a place: the map's address naming the view (``#map=zoom/lat/lon``), at the
  busiest cell of the period at zoom 11, 13 and 15 and at a cell of median count at zoom 8
  and 11 (cells from the database): time to the incidents drawn, tile requests and bytes,
  server caches warm, browser cache empty;
- dragged: there, the map dragged with the mouse three times, as a user pans: time until the
  incidents are drawn again and what the page requests (only tiles, nothing else but the
  version poll).

Nothing is evaluated in the page (Playwright's evaluate and wait_for_function would need the
eval its policy forbids): the page is driven with the mouse and its address, and read by
selector.

    make bench-viewer            # or: python -m bench.bench_viewer [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.common import ROOT, SECRET, api_key, ensure_database, free_port, server

CHROMIUM = os.environ.get("CIVOP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1400, "height": 900}
USER, PASSWORD = "bench", "bench-password-long"  # made by bench.common.api_key
HOT_SPOT_ZOOMS = (11, 13, 15)
TILE_PATHS = ("/tiles/WebMercatorQuad/", "/layers/heat/", "/basemap/tiles/")
POLL_PATH = "/layers/versions"
#: The page's stream of alerts (server-sent events): open as long as the page is.
STREAM_PATH = "/api/stream"


@dataclass
class Traffic:
    """What the page asked for and how many bytes came over the wire (Chrome's count)."""

    urls: list[str] = field(default_factory=list)
    bytes: int = 0
    pending: set[str] = field(default_factory=set)
    last_change: float = 0.0

    def mark(self) -> tuple[int, int]:
        return len(self.urls), self.bytes

    async def settle(self, quiet_s: float = 0.5, limit_s: float = 60.0) -> None:
        """Wait until no request (but the version poll) has been in flight for ``quiet_s``."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            if not self.pending and time.monotonic() - self.last_change >= quiet_s:
                return
            await asyncio.sleep(0.05)


async def watch(page: Any, traffic: Traffic) -> None:
    """Count every request and its encoded bytes through the DevTools protocol."""
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("Network.enable")
    urls: dict[str, str] = {}

    def sent(event: dict[str, Any]) -> None:
        url = event["request"]["url"]
        urls[event["requestId"]] = url
        traffic.urls.append(url)
        if POLL_PATH not in url and STREAM_PATH not in url:
            traffic.pending.add(event["requestId"])
            traffic.last_change = time.monotonic()

    def finished(event: dict[str, Any]) -> None:
        traffic.bytes += int(event.get("encodedDataLength", 0))
        done(event)

    def done(event: dict[str, Any]) -> None:
        if event["requestId"] in traffic.pending:
            traffic.pending.discard(event["requestId"])
            traffic.last_change = time.monotonic()

    cdp.on("Network.requestWillBeSent", sent)
    cdp.on("Network.loadingFinished", finished)
    cdp.on("Network.loadingFailed", done)


async def drawn_at(page: Any, layer: str, timeout_ms: int = 60_000) -> float:
    """Milliseconds from navigation to the layer's first drawing: the page's own performance
    mark, which it shows on its root element; read by selector, without running script in
    the page (its Content-Security-Policy forbids eval, which wait_for_function needs)."""
    attribute = f"data-civop-ready-{layer.replace('_', '-')}"
    await page.wait_for_selector(f"html[{attribute}]", state="attached", timeout=timeout_ms)
    return float(await page.get_attribute("html", attribute) or "nan")


async def drawings(page: Any, layer: str) -> int:
    """How many times the page has drawn the layer (shown on its root element)."""
    return int(await page.get_attribute("html", f"data-civop-drawn-{layer}") or 0)


async def drawn_again(page: Any, layer: str, before: int, timeout_ms: int = 60_000) -> None:
    """Until the page has drawn the layer again since it had drawn it ``before`` times."""
    await page.wait_for_selector(
        f"html[data-civop-drawn-{layer}]:not([data-civop-drawn-{layer}='{before}'])",
        state="attached",
        timeout=timeout_ms,
    )


def token(base: str) -> str:
    answer = httpx.post(f"{base}/auth/token", data={"username": USER, "password": PASSWORD})
    answer.raise_for_status()
    return str(answer.json()["access_token"])


async def first_load(
    browser: Any, base: str, bearer: str, view: str = "", layers: bool = True
) -> dict[str, Any]:
    """A fresh browser context (empty cache), under the page's real Content-Security-Policy:
    navigation (to the map at ``view``, ``#map=zoom/lat/lon``, if given) -> incidents drawn,
    all drawn, bytes. Nothing is evaluated in the page: the times are the page's own marks."""
    context = await browser.new_context(viewport=VIEWPORT)
    await context.add_init_script(f"sessionStorage.setItem('civop.token', {bearer!r});")
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    traffic = Traffic()
    await watch(page, traffic)
    await page.goto(f"{base}/map{view}")
    incidents_ms = await drawn_at(page, "incidents")
    at_incidents = traffic.bytes
    shown = ["sectors", "idp_sites", "incidents", "patrols", "bases"] if layers else []
    everything_ms = max([incidents_ms, *[await drawn_at(page, name) for name in shown]])
    await traffic.settle()
    result = {
        "incidents_ms": incidents_ms,
        "all_ms": everything_ms,
        "bytes_at_incidents": at_incidents,
        "bytes": traffic.bytes,
        "requests": len(traffic.urls),
        "external": [u for u in traffic.urls if not _local(u)],
        "errors": errors,
        "page": page,
        "context": context,
        "traffic": traffic,
    }
    return result


def _local(url: str) -> bool:
    return url.startswith(("http://127.0.0.1", "http://localhost", "data:", "blob:"))


async def places(url: str) -> dict[str, tuple[float, float]]:
    """The busiest cell of 0.1 degree of the page's default period (the 90 days up to the
    newest incident) and one of median count, from the database (nothing run in the page)."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        cells = await conn.fetch(
            """
            WITH period AS (SELECT max(occurred_at) - interval '90 days' AS since FROM incidents)
            SELECT floor(ST_Y(geom) * 10) / 10 + 0.05 AS lat,
                   floor(ST_X(geom) * 10) / 10 + 0.05 AS lon, count(*) AS n
            FROM incidents, period WHERE occurred_at >= period.since AND deleted_at IS NULL
            GROUP BY 1, 2 ORDER BY n
            """
        )
    finally:
        await conn.close()
    pick = {"hottest": cells[-1], "median": cells[len(cells) // 2]}
    return {name: (float(c["lat"]), float(c["lon"])) for name, c in pick.items()}


async def pan(page: Any, traffic: Traffic, dx: int, dy: int) -> dict[str, Any]:
    """Pan by (dx, dy) pixels and wait for the incidents layer to be drawn again (at most a
    minute: a pan that the page never redraws is reported, not waited for)."""
    try:
        return await asyncio.wait_for(_pan(page, traffic, dx, dy), 60)
    except TimeoutError:
        return {
            "drawn": "not drawn again within 60 s",
            "ms": 60_000.0,
            "bytes": 0,
            "tiles": 0,
            "other": [],
        }


async def _pan(page: Any, traffic: Traffic, dx: int, dy: int) -> dict[str, Any]:
    before = await drawings(page, "incidents")
    requests, bytes_before = traffic.mark()
    # Dragged with the mouse, as a user pans (nothing is evaluated in the page).
    x, y = VIEWPORT["width"] / 2, VIEWPORT["height"] / 2
    await page.mouse.move(x, y)
    await page.mouse.down()
    started = time.monotonic()
    await page.mouse.move(x - dx, y - dy, steps=8)
    await page.mouse.up()
    # Drawn again; or, for vector tiles already at hand, nothing to fetch and nothing to draw.
    drawn = True
    while await drawings(page, "incidents") <= before:
        fetched = any(any(p in u for p in TILE_PATHS) for u in traffic.urls[requests:])
        if not fetched and time.monotonic() - started > 1.0:
            drawn = False
            break
        if time.monotonic() - started > 60:
            raise TimeoutError("the incidents layer was not drawn within 60 s of a pan")
        await asyncio.sleep(0.02)
    elapsed = time.monotonic() - started
    await traffic.settle()
    asked = [u for u in traffic.urls[requests:] if POLL_PATH not in u and STREAM_PATH not in u]
    return {
        "drawn": "nothing to fetch (tiles at hand)"
        if not drawn
        else f"drawn in {elapsed * 1000:.0f} ms",
        "ms": elapsed * 1000,
        "bytes": traffic.bytes - bytes_before,
        "tiles": sum(1 for u in asked if any(p in u for p in TILE_PATHS)),
        "other": [u for u in asked if not any(p in u for p in TILE_PATHS)],
    }


def mb(n: float) -> str:
    return f"{n / 1e6:.2f} MB"


async def measure(base: str, url: str, runs: int) -> None:
    from playwright.async_api import async_playwright

    bearer = token(base)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        loads = []
        for run in range(runs):
            load = await first_load(browser, base, bearer)
            label = "cold server caches" if run == 0 else "warm server caches"
            print(
                f"first load {run + 1} ({label}): incidents drawn {load['incidents_ms']:.0f} ms, "
                f"all layers {load['all_ms']:.0f} ms; {mb(load['bytes_at_incidents'])} by the "
                f"incidents, {mb(load['bytes'])} in all, {load['requests']} requests, "
                f"{len(load['external'])} not to this machine, {len(load['errors'])} console errors"
            )
            loads.append(load)
            if run < runs - 1:
                await load["context"].close()
        warm = loads[1:] or loads
        print(
            f"first load, median of the warm runs: incidents drawn "
            f"{statistics.median(x['incidents_ms'] for x in warm):.0f} ms, "
            f"{mb(statistics.median(x['bytes'] for x in warm))}"
        )
        await loads[-1]["context"].close()
        spots = await places(url)
        lat, lon = spots["median"]
        visits = [("median", 8), *(("hottest", zoom) for zoom in HOT_SPOT_ZOOMS), ("median", 11)]
        for name, zoom in visits:
            lat, lon = spots[name]
            # The map opened at the place (its address names the view), caches of the server
            # warm, the browser's empty; then dragged with the mouse.
            opened = await first_load(
                browser, base, bearer, f"#map={zoom}/{lat:.5f}/{lon:.5f}", layers=False
            )
            tiles = sum(1 for u in opened["traffic"].urls if any(p in u for p in TILE_PATHS))
            print(
                f"opened at the {name} cell ({lat:.2f}, {lon:.2f}) at z{zoom}: incidents drawn "
                f"{opened['incidents_ms']:.0f} ms after navigation, {tiles} tile requests, "
                f"{mb(opened['bytes'])}, {len(opened['errors'])} console errors"
            )
            for dx, dy in ((400, 0), (0, 300), (-400, -300)):
                moved = await pan(opened["page"], opened["traffic"], dx, dy)
                print(
                    f"  dragged at z{zoom} by {dx},{dy} px: {moved['drawn']}, "
                    f"{moved['tiles']} tile requests, "
                    f"{len(moved['other'])} other requests {moved['other'][:3]}, "
                    f"{mb(moved['bytes'])}"
                )
            await opened["context"].close()
        await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3, help="first loads (the first is cold)")
    parser.add_argument("--incidents", type=int, default=1_000_000)
    args = parser.parse_args()

    url = asyncio.run(ensure_database(args.incidents))
    asyncio.run(api_key(url))  # makes sure the benchmark user exists
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--workers",
        "1",
        "--log-level",
        "warning",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--factory",
        "service.main:app_factory",
    ]
    env = {"DATABASE_URL": url, "CIVOP_SECRET_KEY": SECRET, "CIVOP_TILE_CACHE_MB": "256"}
    print(
        f"\nthe analysts' map on {args.incidents:,} incidents: headless Chromium "
        f"{VIEWPORT['width']}x{VIEWPORT['height']}, one worker, loopback\n"
    )
    with server(command, env, f"{base}/health"):
        asyncio.run(measure(base, url.replace("+asyncpg", ""), args.runs))
    print()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    main()
