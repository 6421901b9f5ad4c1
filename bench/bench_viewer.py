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
- zoomed in: the hottest spot at zoom 11 and 13: how many incidents the view holds, whether
  the page draws them as heat or one by one (vector tiles), time and bytes.
- panning: at zoom 8, 11 and 13, what the page requests after the map moves: only tiles
  (vector tiles, heat tiles), nothing else but the version poll.

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
        if POLL_PATH not in url:
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


async def first_load(browser: Any, base: str, bearer: str) -> dict[str, Any]:
    """A fresh browser context (empty cache): navigation -> incidents drawn, all drawn, bytes."""
    # Playwright waits by evaluating strings, which the page's CSP forbids (no unsafe-eval).
    context = await browser.new_context(viewport=VIEWPORT, bypass_csp=True)
    await context.add_init_script(f"sessionStorage.setItem('civop.token', {bearer!r});")
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    traffic = Traffic()
    await watch(page, traffic)
    await page.goto(f"{base}/map")
    incidents_ms = await drawn_at(page, "incidents")
    at_incidents = traffic.bytes
    shown = ["sectors", "idp_sites", "incidents", "patrols", "bases"]
    everything_ms = max([await drawn_at(page, name) for name in shown])
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


async def places(page: Any) -> dict[str, tuple[float, float]]:
    """The hottest heat cell the page drew, and one of median heat."""
    found: dict[str, list[float]] = await page.evaluate(
        """() => {
            const cells = [...civop.state.layers.incidents.cells];
            cells.sort((a, b) => a[2] - b[2]);
            const pick = (c) => [c[0], c[1]];
            return {hottest: pick(cells[cells.length - 1]), median: pick(cells[cells.length >> 1])};
        }"""
    )
    return {name: (lat, lon) for name, (lat, lon) in found.items()}


async def zoom_to(page: Any, traffic: Traffic, lat: float, lon: float, zoom: int) -> dict[str, Any]:
    """Zoom to a place: time until the incidents layer is drawn again, how, and bytes."""
    return await asyncio.wait_for(_zoom_to(page, traffic, lat, lon, zoom), 90)


async def _zoom_to(
    page: Any, traffic: Traffic, lat: float, lon: float, zoom: int
) -> dict[str, Any]:
    before = await drawings(page, "incidents")
    requests, bytes_before = traffic.mark()
    started = time.monotonic()
    await page.evaluate(f"void civop.state.map.setView([{lat}, {lon}], {zoom}, {{animate: false}})")
    await drawn_again(page, "incidents", before)
    elapsed = time.monotonic() - started
    await traffic.settle()
    return {
        "ms": elapsed * 1000,
        "bytes": traffic.bytes - bytes_before,
        "requests": traffic.urls[requests:],
        "mode": await page.evaluate("civop.incidentsMode()"),
        "in_view": await page.evaluate("civop.state.layers.incidents.inView"),
        "drawn": len(await page.evaluate("civop.visibleIds('incidents')")),
    }


async def pan(page: Any, traffic: Traffic, dx: int, dy: int) -> dict[str, Any]:
    """Pan by (dx, dy) pixels and wait for the incidents layer to be drawn again (at most a
    minute: a pan that the page never redraws is reported, not waited for)."""
    try:
        return await asyncio.wait_for(_pan(page, traffic, dx, dy), 60)
    except TimeoutError:
        return {
            "mode": "?",
            "drawn": "not drawn again within 60 s",
            "ms": 60_000.0,
            "bytes": 0,
            "tiles": 0,
            "other": [],
        }


async def _pan(page: Any, traffic: Traffic, dx: int, dy: int) -> dict[str, Any]:
    before = await drawings(page, "incidents")
    requests, bytes_before = traffic.mark()
    started = time.monotonic()
    await page.evaluate(f"void civop.state.map.panBy([{dx}, {dy}], {{animate: false}})")
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
    asked = [u for u in traffic.urls[requests:] if POLL_PATH not in u]
    return {
        "mode": await page.evaluate("civop.incidentsMode()"),
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


async def measure(base: str, runs: int) -> None:
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
        page, traffic = loads[-1]["page"], loads[-1]["traffic"]
        await page.evaluate("void civop.state.map.setZoom(8, {animate: false})")
        await traffic.settle()
        for dx, dy in ((300, 0), (0, 250)):
            moved = await pan(page, traffic, dx, dy)
            print(
                f"pan at z8 ({moved['mode']}) by {dx},{dy} px: {moved['drawn']}, "
                f"{moved['tiles']} tile requests, {len(moved['other'])} other requests "
                f"{moved['other'][:3]}, {mb(moved['bytes'])}"
            )
        visits = [("hottest", zoom) for zoom in HOT_SPOT_ZOOMS] + [("median", 11)]
        spots = await places(page)
        for name, zoom in visits:
            lat, lon = spots[name]
            zoomed = await zoom_to(page, traffic, lat, lon, zoom)
            tiles = sum(1 for u in zoomed["requests"] if any(p in u for p in TILE_PATHS))
            held = "" if zoomed["in_view"] is None else f"{zoomed['in_view']:,} incidents in view, "
            print(
                f"zoom to the {name} heat cell ({lat:.3f}, {lon:.3f}) at z{zoom}: "
                f"{held}drawn as {zoomed['mode']} "
                f"({zoomed['drawn']:,} on vector tiles) in {zoomed['ms']:.0f} ms, "
                f"{tiles} tile requests, {mb(zoomed['bytes'])}"
            )
            for dx, dy in ((400, 0), (0, 300), (-400, -300)):
                moved = await pan(page, traffic, dx, dy)
                print(
                    f"  pan at z{zoom} ({moved['mode']}) by {dx},{dy} px: {moved['drawn']}, "
                    f"{moved['tiles']} tile requests, "
                    f"{len(moved['other'])} other requests {moved['other'][:3]}, "
                    f"{mb(moved['bytes'])}"
                )
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
        asyncio.run(measure(base, args.runs))
    print()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    main()
