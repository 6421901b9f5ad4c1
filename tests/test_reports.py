"""The CIV-OES brief and the hand-over report for the demo mission, as users get them: from the
API of the service running on its own database, and from ``civop report``. The PDFs are read
back with poppler (pdftoppm, pdfimages, pdftotext); a partner's report holds no restricted
record, and its figures are those of what a partner may see."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import unicodedata
import uuid
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from service.auth import service as auth
from service.auth.security import issue_token
from service.config import get_settings
from service.demo import DEFAULT_REFERENCE_DATE
from service.demo.load import load_demo
from service.enums import Role
from service.i18n import in_language
from tests.conftest import ARTIFACTS, TEST_DB, create_database, drop_database, serving

START, END = "2026-08-03T00:00:00Z", "2026-11-01T00:00:00Z"
SECTOR = "Sector North-West"
MARK = uuid.uuid4().hex[:8].upper()
#: Records only cleared readers may see (restricted), and a mission site partners see only
#: generalised (without its name); their names are unique to this run.
SECRET_SITE = f"SECRET-CAMP-{MARK}"
SECRET_REQUEST = f"SECRET-REQUEST-{MARK}"
SECRET_PROJECT = f"SECRET-PROJECT-{MARK}"
MISSION_SITE = f"MISSION-CAMP-{MARK}"
SECRETS = (SECRET_SITE, SECRET_REQUEST, SECRET_PROJECT, MISSION_SITE)
#: Public records a report must flag as overdue.
LATE_PROJECT = f"LATE-PROJECT-{MARK}"
LATE_REQUEST = f"LATE-REQUEST-{MARK}"


@dataclass
class ReportServer:
    url: str
    database_url: str
    engine: AsyncEngine
    sector: str
    tokens: dict[str, str]
    #: Reports made, by what was asked: the module's tests only read the database, so a report
    #: asked for again with the same parameters is fetched again, not made again (a job of
    #: twenty seconds and more on two cores).
    made: dict[tuple[str, str, tuple[tuple[str, Any], ...]], str] = field(default_factory=dict)

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    async def get(self, kind: str, user: str, **params: Any) -> httpx.Response:
        """The report as the user gets it: asked for (``202`` and a job, made by a worker),
        followed, then fetched; a refusal is the answer to the request itself."""
        given = {"sector": self.sector, "start": START, "end": END, **params}
        query = {k: v for k, v in given.items() if v is not None}
        asking = (kind, user, tuple(sorted(query.items())))
        async with httpx.AsyncClient(
            base_url=self.url, timeout=180, headers=self.auth(user)
        ) as http:
            if asking in self.made:
                return await http.get(self.made[asking])
            asked = await http.get(f"/api/reports/{kind}", params=query)
            if asked.status_code != 202:
                return asked
            job = asked.json()
            for _ in range(3000):
                job = (await http.get(asked.headers["location"])).json()
                if job["state"] not in ("queued", "running"):
                    break
                await asyncio.sleep(0.2)
            assert job["state"] == "succeeded", job
            self.made[asking] = job["result"]
            return await http.get(job["result"])

    async def incidents(self, classifications: tuple[str, ...]) -> int:
        """Incidents of these classifications in the sector and period, counted here in SQL."""
        async with AsyncSession(self.engine) as session:
            found = await session.scalar(
                text(
                    "SELECT count(*) FROM incidents i, sectors s WHERE s.id = :sector "
                    "AND i.deleted_at IS NULL AND i.classification = ANY(:levels) "
                    "AND i.occurred_at >= :start AND i.occurred_at < :end "
                    "AND ST_Intersects(i.geom, s.geom)"
                ),
                {
                    "sector": uuid.UUID(self.sector),
                    "levels": list(classifications),
                    "start": _instant(START),
                    "end": _instant(END),
                },
            )
        return int(found or 0)


def _instant(value: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def _plant(session: AsyncSession, sector: str) -> None:
    """Restricted and mission records in the middle of the sector's busiest place."""
    await session.execute(text("SELECT set_config('civop.actor', 'test-setup', true)"))
    lon, lat = (
        await session.execute(
            text(
                "SELECT ST_X(ST_Centroid(ST_Collect(i.geom))), ST_Y(ST_Centroid(ST_Collect(i.geom))) "
                "FROM incidents i, sectors s WHERE s.id = :sector AND ST_Intersects(i.geom, s.geom) "
                "AND i.occurred_at >= :start AND i.occurred_at < :end "
                "GROUP BY ST_SnapToGrid(i.geom, 0.1) ORDER BY count(*) DESC LIMIT 1"
            ),
            {"sector": uuid.UUID(sector), "start": _instant(START), "end": _instant(END)},
        )
    ).one()
    for name, classification, dx in (
        (SECRET_SITE, "restricted", 0.0),
        (MISSION_SITE, "mission", 0.02),
    ):
        await session.execute(
            text(
                "INSERT INTO idp_sites (name, site_type, status, population_individuals, "
                "classification, geom) VALUES (:name, 'planned_camp', 'open', 60000, :c, "
                "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))"
            ),
            {"name": name, "c": classification, "lon": lon + dx, "lat": lat},
        )
    await session.execute(
        text(
            "INSERT INTO projects (title, kind, status, classification, geom) "
            "VALUES (:title, 'quick_impact_project', 'ongoing', 'restricted', "
            "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))"
        ),
        {"title": SECRET_PROJECT, "lon": lon, "lat": lat + 0.01},
    )
    await session.execute(
        text(
            "INSERT INTO assistance_requests (title, need, requesting_actor_id, capability, "
            "needed_from, classification, geom) SELECT :title, 'a need', id, 'medical', now(), "
            "'restricted', ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) "
            "FROM actors WHERE humanitarian ORDER BY id LIMIT 1"
        ),
        {"title": SECRET_REQUEST, "lon": lon - 0.01, "lat": lat},
    )
    # A project ongoing six weeks past its end, and a request waiting two months.
    await session.execute(
        text(
            "INSERT INTO projects (title, kind, status, classification, end_date, geom) "
            "VALUES (:title, 'quick_impact_project', 'ongoing', 'public', '2026-09-20', "
            "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))"
        ),
        {"title": LATE_PROJECT, "lon": lon + 0.01, "lat": lat + 0.01},
    )
    await session.execute(
        text(
            "INSERT INTO assistance_requests (title, need, requesting_actor_id, capability, "
            "needed_from, requested_at, classification, geom) SELECT :title, 'a need', id, "
            "'medical', '2026-09-01', '2026-09-01', 'public', "
            "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) "
            "FROM actors WHERE humanitarian ORDER BY id LIMIT 1"
        ),
        {"title": LATE_REQUEST, "lon": lon - 0.01, "lat": lat + 0.01},
    )
    await session.commit()


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[ReportServer]:
    """The demo mission in its own database, with planted records, served by uvicorn."""
    name = f"{TEST_DB}_reports"
    url = await create_database(name)
    engine = create_async_engine(url)
    # START..END are the dates of this demo; the reports' figures are of its records alone.
    await load_demo(engine, reference_date=DEFAULT_REFERENCE_DATE, alert_rules=False)
    tokens: dict[str, str] = {}
    async with AsyncSession(engine, expire_on_commit=False) as session:
        sector = str(
            await session.scalar(text("SELECT id FROM sectors WHERE name = :n"), {"n": SECTOR})
        )
        await _plant(session, sector)
        for username, role, cleared in (
            ("admin", Role.admin, True),
            ("partner", Role.partner, False),
            ("officer", Role.officer, False),
        ):
            user = await auth.add_user(
                session,
                username=username,
                password="correct horse battery staple",
                role=role,
                cleared_restricted=cleared,
                actor="test-setup",
            )
            tokens[username], _ = issue_token(
                user.id, get_settings().signing_key(), timedelta(minutes=30)
            )
    env = {
        "DATABASE_URL": url.replace("postgresql+asyncpg://", "postgresql://", 1),
        "CIVOP_DB_STATEMENT_TIMEOUT_MS": "120000",
        # The demo mission's time zone: reports show its local time, the zone named.
        "CIVOP_TIME_ZONE": "Africa/Bangui",
    }
    try:
        async with serving(env, "report-server.log") as base:
            yield ReportServer(base, env["DATABASE_URL"], engine, sector, tokens)
    finally:
        await engine.dispose()
        await drop_database(name)


# --- reading PDFs the way a person would see them --------------------------------------------


def poppler(*command: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def pages_text(pdf: Path) -> list[str]:
    """The text of each page (pdftotext separates pages with a form feed)."""
    return poppler("pdftotext", "-layout", str(pdf), "-").split("\f")[:-1]


def images_by_page(pdf: Path) -> dict[int, list[tuple[int, int]]]:
    """Raster images on each page (pdfimages -list), as (width, height) in pixels."""
    found: dict[int, list[tuple[int, int]]] = {}
    for line in poppler("pdfimages", "-list", str(pdf)).splitlines()[2:]:
        page, _, kind, width, height = line.split()[:5]
        if kind == "image":
            found.setdefault(int(page), []).append((int(width), int(height)))
    return found


def render_page(pdf: Path, page: int, dpi: int = 50) -> Image.Image:
    """One page as pdftoppm draws it."""
    root = pdf.with_name(f"{pdf.stem}-page-{page}")
    poppler("pdftoppm", "-png", "-r", str(dpi), "-f", str(page), "-l", str(page), "-singlefile",
            str(pdf), str(root))  # fmt: skip
    return Image.open(root.with_suffix(".png")).convert("RGB")


def colour(image: Image.Image) -> tuple[float, int]:
    """Share of the pixels in colour (not white, grey or black text), and how many distinct
    colours those are: a map or a chart has many, a page of text has none."""
    pixels = np.asarray(image).astype(int).reshape(-1, 3)
    saturated = pixels.max(axis=1) - pixels.min(axis=1) > 40
    return float(saturated.mean()), len(np.unique(pixels[saturated] // 16, axis=0))


def ink(image: Image.Image) -> float:
    """Share of the pixels that are not white."""
    return float((np.asarray(image).min(axis=2) < 250).mean())


def embedded_images(pdf: Path, page: int) -> list[Image.Image]:
    """The raster images of one page, as stored in the PDF (pdfimages)."""
    root = pdf.with_name(f"{pdf.stem}-images-{page}")
    poppler("pdfimages", "-png", "-f", str(page), "-l", str(page), str(pdf), str(root))
    return [Image.open(f).convert("RGB") for f in sorted(pdf.parent.glob(f"{root.name}-*.png"))]


def page_with(texts: list[str], heading: str) -> int:
    """1-based number of the page whose text holds ``heading``."""
    return next(i for i, t in enumerate(texts, start=1) if heading in t)


async def fetch_pdf(
    server: ReportServer, kind: str, user: str, tmp_path: Path, lang: str | None = None
) -> Path:
    response = await server.get(kind, user, format="pdf", lang=lang)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert (
        f'filename="{kind}-sector-north-west-2026-11-01.pdf"'
        in response.headers["content-disposition"]
    )
    path = tmp_path / f"{kind}-{user}{'-' + lang if lang else ''}.pdf"
    path.write_bytes(response.content)
    (ARTIFACTS / path.name).write_bytes(response.content)
    return path


# --- the tests ----------------------------------------------------------------------------------


async def test_civ_oes_pdf_has_the_map_and_the_charts(server: ReportServer, tmp_path: Path) -> None:
    pdf = await fetch_pdf(server, "civ-oes", "admin", tmp_path)
    texts = pages_text(pdf)
    assert len(texts) >= 4
    whole = "\n".join(texts)
    for heading in (
        "Civil Operational Estimate (CIV-OES) brief",
        "Key points",
        "Map of the area",
        "Incident trends by category",
        "Most exposed IDP sites, and why",
        "Hot spots and their trend",
        "Coverage gaps",
        "Projects at risk",
        "Open requests for civil assistance",
        "Recent alerts",
    ):
        assert heading in whole, heading
    assert "Area: Sector North-West" in texts[0]
    assert "Period: Aug 3, 2026 to Nov 1, 2026 (90 days)" in texts[0]

    images = images_by_page(pdf)
    map_page = page_with(texts, "Map of the area")
    chart_page = page_with(texts, "Incident trends by category")
    (map_size,) = images[map_page]
    assert map_size[0] >= 1200 and map_size[1] >= 1200, map_size
    assert len(images[chart_page]) == 2
    assert all(w >= 1200 and h >= 300 for w, h in images[chart_page])
    (drawn_map,) = embedded_images(pdf, map_page)
    assert ink(drawn_map) > 0.4  # the area is filled, not a blank frame
    assert colour(drawn_map)[1] > 100
    for chart in embedded_images(pdf, chart_page):  # bars in several colours
        assert ink(chart) > 0.05 and colour(chart)[1] >= 5
    # Rendered as a reader sees them, the map and chart pages are pages of colour.
    for page in (map_page, chart_page):
        image = render_page(pdf, page)
        assert 400 <= image.width <= 430 and 570 <= image.height <= 600  # A4 at 50 dpi
        share, colours = colour(image)
        assert share > 0.005 and colours > 100, (page, share, colours)
    # ... and a page of tables is not mistaken for one.
    share, colours = colour(render_page(pdf, len(texts)))
    assert share < 0.002, share

    # The figures are the database's, counted here independently (the admin sees everything).
    expected = await server.incidents(("public", "mission", "restricted"))
    assert f"{expected:,} incidents in the area over 90 days" in whole
    assert SECRET_SITE in whole and MISSION_SITE in whole  # a cleared reader's report has them


async def test_handover_report_from_the_api_and_the_command_line(
    server: ReportServer, tmp_path: Path
) -> None:
    response = await server.get("handover", "officer", format="html")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    for heading in (
        "Hand-over report: the protection of civilians in the area",
        "The area",
        "Armed groups near IDP sites",
        "Commitments handed over: approved and ongoing projects",
        "Alerts: recent and still open",
        "Map of the area",
    ):
        assert heading in html, heading
    assert html.count('src="data:image/png;base64,') >= 3
    assert not re.search(r"""(src|href)=["']https?://""", html), "the page fetches nothing"
    # An officer is not cleared for restricted records; a mission site is shown in full.
    assert SECRET_SITE not in html and MISSION_SITE in html

    output = tmp_path / "handover.pdf"
    result = subprocess.run(
        [
            sys.executable, "-m", "service.cli", "report", "handover", "--sector", SECTOR,
            "--start", START, "--end", END, "--user", "admin", "--output", str(output),
        ],
        env={**os.environ, "DATABASE_URL": server.database_url},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"handover report written to {output}" in result.stdout
    texts = pages_text(output)
    whole = "\n".join(texts)
    assert "Hand-over report" in texts[0] and "Prepared for admin (Administrator)" in whole
    assert SECRET_SITE in whole
    map_page = page_with(texts, "Map of the area")
    share, colours = colour(render_page(output, map_page))
    assert share > 0.005 and colours > 100

    unknown = subprocess.run(
        [sys.executable, "-m", "service.cli", "report", "civ-oes", "--sector", "Sector Nowhere"],
        env={**os.environ, "DATABASE_URL": server.database_url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert unknown.returncode == 1 and "no sector named 'Sector Nowhere'" in unknown.stderr


async def test_a_partners_report_holds_no_restricted_record(
    server: ReportServer, tmp_path: Path
) -> None:
    html = (await server.get("civ-oes", "partner", format="html")).text
    pdf = await fetch_pdf(server, "civ-oes", "partner", tmp_path)
    pdf_text = "\n".join(pages_text(pdf))
    for secret in SECRETS:
        assert secret not in html, secret
        assert secret not in pdf_text, secret
    assert "Prepared for partner (Partner)" in pdf_text
    assert "Restricted records (among them every report of sexual violence)" in html
    # The partner's counts are the public incidents only, counted here in SQL.
    public = await server.incidents(("public",))
    everything = await server.incidents(("public", "mission", "restricted"))
    assert public < everything
    assert f"{public:,} incidents in the area over 90 days" in pdf_text
    assert f"{everything} incidents in the area" not in pdf_text
    assert (
        "sexual violence" not in html.split("Incident trends by category")[1].split("</table>")[0]
    )
    # The same report for the admin has them all: the check above could fail.
    admin = (await server.get("civ-oes", "admin", format="html")).text
    assert all(secret in admin for secret in (SECRET_SITE, SECRET_REQUEST, MISSION_SITE))


async def test_report_parameters_are_checked(server: ReportServer) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        anonymous = await http.get("/api/reports/civ-oes", params={"sector": server.sector})
        assert anonymous.status_code == 401
    no_area = await server.get("civ-oes", "admin", sector=None)
    assert no_area.status_code == 422 and "sector or a bbox" in no_area.text
    bad_box = await server.get("civ-oes", "admin", sector=None, bbox="24,7,23")
    assert bad_box.status_code == 422 and "bbox" in bad_box.text
    backwards = await server.get("civ-oes", "admin", start=END, end=START)
    assert backwards.status_code == 422
    wrong_format = await server.get("civ-oes", "admin", format="docx")
    assert wrong_format.status_code == 422
    unknown = await server.get("handover", "admin", sector=str(uuid.uuid4()))
    assert unknown.status_code == 404
    box = await server.get(
        "civ-oes", "partner", sector=None, bbox="24.5,6.8,25.5,7.8", format="html"
    )
    assert box.status_code == 200 and "box 24.5,6.8 to 25.5,7.8" in box.text


def _section(html: str, title: str) -> str:
    return html.split(f"<h2>{title}")[1].split("<h2>")[0]


async def test_the_brief_reads_as_an_estimate_and_says_where(server: ReportServer) -> None:
    html = (await server.get("civ-oes", "admin", format="html")).text
    assert "<h2>Look at first</h2>" in html
    changes = _section(html, "What changed against the period before")
    assert "chance (p = " in changes  # each change with its evidence and meaning
    rises = _section(html, "Sites whose exposure rose most")
    assert "<td" in rises
    overdue = _section(html, "Overdue")
    assert LATE_PROJECT in overdue and "ongoing past Sep 20, 2026" in overdue
    assert LATE_REQUEST in overdue and "waiting" in overdue
    # Hot spots are placed by a site or place and the sector, not by coordinates.
    hot = _section(html, "Hot spots and their trend")
    rows = hot.split("<tr>")[2:]
    assert rows, "the demo sector has hot spots"
    for row in rows:
        assert not re.search(r"<td>near -?\d+\.\d{3}, -?\d+\.\d{3}", row), row
    assert any(re.search(r"<td>(at |\d+(\.\d)? km [NESW]{1,2} of )", row) for row in rows)
    # Each with the area of responsibility it lies in, in brackets.
    assert all(re.search(r"<td>[^<]+ \([^)]+\)</td>", row) for row in rows)


async def test_the_handover_lists_what_to_follow_up(server: ReportServer) -> None:
    html = (await server.get("handover", "admin", format="html")).text
    follow = _section(html, "To follow up")
    assert LATE_PROJECT in follow and "confirm it or close it" in follow
    assert LATE_REQUEST in follow and "obtain the decision" in follow


async def test_a_partners_report_states_no_figure_it_cannot_know(server: ReportServer) -> None:
    html = (await server.get("handover", "partner", format="html")).text
    gaps = _section(html, "Coverage gaps")
    assert "Not stated: patrols are not all visible to this account" in gaps
    assert "none in 180 days" not in html and "none in the period" not in html
    # No distance to or from a generalised location is stated as if exact.
    armed = html.split("nearest armed group")[1].split("</table>")[0]
    for row in armed.split("<tr>")[1:]:
        if "(generalised" in row:
            assert "not stated (generalised location)" in row, row
    admin = (await server.get("handover", "admin", format="html")).text
    assert "Not stated: patrols" not in admin  # the admin sees every patrol: gaps are stated


async def test_a_french_brief_reads_in_french_with_local_time(
    server: ReportServer, tmp_path: Path
) -> None:
    """``lang=fr``: headings, key points, enumerated values, dates and numbers in French, times
    in the mission's local time with its zone named (the demo's Africa/Bangui, UTC+1)."""
    pdf = await fetch_pdf(server, "civ-oes", "admin", tmp_path, lang="fr")
    whole = "\n".join(pages_text(pdf))
    for heading in (
        "Note d'estimation opérationnelle civile (CIV-OES)",
        "Points clés",
        "Carte de la zone",
        "Tendances des incidents par catégorie",
        "Sites de PDI les plus exposés, et pourquoi",
        "Points chauds et leur tendance",
        "Lacunes de couverture",
        "Demandes d'assistance civile ouvertes",
        "Comment ce rapport a été établi",
    ):
        assert heading in whole, heading
    assert "Période : du 3 août 2026 au 1 nov. 2026 (90 jours)" in whole
    assert "(Africa/Bangui, UTC+01:00)" in whole
    assert re.search(r"incidents dans la zone sur 90 jours", whole)
    # Enumerated values by their French labels, not their codes.
    assert re.search(r"Attaque contre des civils|Affrontement armé|Pillage", whole)
    for english in ("Key points", "Coverage gaps", "attack on civilians", "Period:"):
        assert english not in whole, english
    # The English brief is unchanged by the French one.
    english_pdf = await fetch_pdf(server, "civ-oes", "admin", tmp_path)
    assert "Key points" in "\n".join(pages_text(english_pdf))


# --- the charts in French and Arabic ---------------------------------------------------------

#: RIGHT-TO-LEFT MARK, which starts every text of an Arabic figure.
RLM = "\u200f"


def _arabic_letter(char: str) -> bool:
    return unicodedata.bidirectional(char) == "AL" and unicodedata.category(char) == "Lo"


@dataclass
class DrawnText:
    """A text of a figure, and the glyphs matplotlib lays out for it (as its Agg backend
    draws them): each with the characters it stands for and its place along the line."""

    text: str
    glyphs: list[tuple[str, int, float]]


def _drawn_texts(figure: Any) -> list[DrawnText]:
    from matplotlib._text_helpers import layout  # what the Agg backend draws with
    from matplotlib.font_manager import findfont, get_font
    from matplotlib.text import Text

    found = []
    for artist in figure.findobj(Text):
        said = artist.get_text()
        if not (artist.get_visible() and said.strip()):
            continue
        font = get_font(findfont(artist.get_fontproperties()))
        font.set_size(artist.get_fontsize(), 72)
        glyphs = [
            (item.char, int(item.glyph_index), float(item.x))
            for item in layout(said, font, language=artist.get_language())
        ]
        found.append(DrawnText(said, glyphs))
    return found


def _read_right_to_left(glyphs: list[tuple[str, int, float]]) -> str:
    """The Arabic letters of a line as a reader meets them, from right to left: a glyph made
    of several characters (a letter and its mark, lam-alef) counts once."""
    # A letter with its mark is one cluster of two characters drawn as two glyphs, side by side
    # in the layout: it is read once.
    clusters: list[tuple[str, float]] = []
    for chars, _glyph, x in glyphs:
        if len(chars) > 1 and clusters and clusters[-1][0] == chars:
            continue
        clusters.append((chars, x))
    ordered = sorted(clusters, key=lambda cluster: -cluster[1])
    return "".join(c for chars, _x in ordered for c in chars if _arabic_letter(c))


def _legend_places(figure: Any) -> dict[str, float]:
    """Where each entry of a figure's legend begins, from the left (pixels)."""
    renderer = figure.canvas.get_renderer()
    return {
        t.get_text(): t.get_window_extent(renderer).x0
        for t in figure.legends[0].get_texts()
        if t.get_text()
    }


async def _figures_in(
    server: ReportServer, language: str
) -> tuple[dict[str, Any], list[warnings.WarningMessage]]:
    """The CIV-OES brief's figures for the admin in ``language``, drawn as the report draws
    them, and every warning drawing them gave."""
    from service.auth.models import User
    from service.reports import figures
    from service.reports.files import report_query
    from service.reports.service import build_report

    async with AsyncSession(server.engine, expire_on_commit=False) as session:
        admin = await session.scalar(select(User).where(User.username == "admin"))
        assert admin is not None
        principal = await auth.principal_of(session, admin)
        with in_language(language):
            query = report_query("civ-oes", uuid.UUID(server.sector), None, START, END)
            report = await build_report(session, principal, query)
    with in_language(language), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        drawn = figures.draw(report)
    for name, (_figure, png) in drawn.items():
        (ARTIFACTS / f"civ-oes-{language}-{name}.png").write_bytes(png)
    return {name: figure for name, (figure, _png) in drawn.items()}, list(caught)


async def test_an_arabic_briefs_charts_are_drawn_in_arabic(server: ReportServer) -> None:
    """Every text of the Arabic brief's map and charts is drawn in Arabic: letters the font
    has, joined (the contextual forms of Arabic Presentation Forms), read from right to left;
    titles are aligned right, dates and numbers written as Arabic writes them."""
    drawn, caught = await _figures_in(server, "ar")
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert not missing, missing[:5]
    assert set(drawn) >= {"map", "trend", "categories"}

    texts = [t for figure in drawn.values() for t in _drawn_texts(figure)]
    arabic = [t for t in texts if any(_arabic_letter(c) for c in t.text)]
    assert len(arabic) >= 20, [t.text for t in texts]
    for english in ("patrol route", "Incidents by category over the period", "incidents per"):
        assert not any(english in t.text for t in texts), english

    from matplotlib.font_manager import findfont, get_font

    font = get_font(findfont("DejaVu Sans"))
    presentation_forms = {
        font.get_char_index(code)
        for code in [*range(0xFB50, 0xFE00), *range(0xFE70, 0xFF00)]
        if font.get_char_index(code)
    }
    for drawn_text in arabic:
        # Drawn in reading order: the letters met from right to left are the text's own order,
        # and whatever Latin names or numbers stand between them keep theirs.
        letters = "".join(c for c in drawn_text.text if _arabic_letter(c))
        assert _read_right_to_left(drawn_text.glyphs) == letters, drawn_text.text
        if len(letters) >= 3:
            # Joined: glyphs of the contextual forms, not only the letters' isolated shapes.
            used = {glyph for _chars, glyph, _x in drawn_text.glyphs}
            assert used & presentation_forms, drawn_text.text

    # The texts are the catalog's Arabic, in a paragraph that reads right to left.
    trend = drawn["trend"].axes[0]
    assert trend.get_title(loc="right") == RLM + "الحوادث حسب الفئة خلال الفترة"
    assert trend.get_title(loc="left") == ""
    assert trend.get_ylabel() == RLM + "الحوادث لكل أسبوع"
    days = [label.get_text() for label in trend.get_xticklabels()]
    assert any(re.search(r"\d+ (أغسطس|سبتمبر|أكتوبر)", day) for day in days), days
    legend = _legend_places(drawn["map"])
    assert RLM + "مسار دورية" in legend and RLM + "منطقة المسؤولية" in legend
    # The legend reads from the right: its last entry stands left of the ones before it.
    assert legend[RLM + "منطقة المسؤولية"] < legend[RLM + "بقعة ساخنة (Gi*)"]
    categories = drawn["categories"].axes[0]
    assert categories.xaxis_inverted()  # mirrored: the bars grow leftwards from the right
    assert RLM + "هذه الفترة" in [t.get_text() for t in categories.get_legend().get_texts()]


async def test_a_french_briefs_charts_are_drawn_in_french(server: ReportServer) -> None:
    drawn, caught = await _figures_in(server, "fr")
    assert not [w for w in caught if "missing from font" in str(w.message)]
    texts = {t.text for figure in drawn.values() for t in _drawn_texts(figure)}
    trend = drawn["trend"].axes[0]
    assert trend.get_title(loc="left") == "Incidents par catégorie sur la période"
    assert trend.get_ylabel() == "incidents par semaine"
    assert {"itinéraire de patrouille", "zone de responsabilité", "cette période"} <= texts
    legend = _legend_places(drawn["map"])
    assert legend["zone de responsabilité"] > legend["point chaud (Gi*)"]
    assert any(re.fullmatch(r"\d+ (août|sept\.|oct\.)", t) for t in texts), texts
    # Coordinates with a decimal comma, the scale bar's kilometres as French writes them.
    assert any(re.fullmatch(r"\d+,\d+", t) for t in texts), texts
    assert any(re.fullmatch(r"\d+\u202fkm", t) for t in texts), texts
    for english in ("patrol route", "this period", "incidents per week", "Aug"):
        assert not any(english in t for t in texts), english
