"""A report as a self-contained HTML page (Jinja2, images inlined) and as a PDF (WeasyPrint,
from the same page). Nothing is fetched from anywhere: the images are in the page."""

from __future__ import annotations

import base64
from datetime import date, datetime
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from service.reports.figures import render_images
from service.reports.service import Report


def _day(value: datetime | date | None) -> str:
    return "—" if value is None else f"{value:%d %b %Y}"


def _moment(value: datetime | None) -> str:
    return "—" if value is None else f"{value:%d %b %Y %H:%M} UTC"


def _num(value: Any) -> str:
    return "—" if value is None else f"{value:,}"


def _fixed(value: Any, digits: int = 1) -> str:
    return "—" if value is None else f"{float(value):,.{digits}f}"


def _words(value: str | None) -> str:
    return "—" if value is None else str(value).replace("_", " ")


def _bounds(value: tuple[float, float, float, float]) -> str:
    x0, y0, x1, y1 = value
    return f"lon {x0:.2f} to {x1:.2f}, lat {y0:.2f} to {y1:.2f}"


def _change(row: dict[str, Any]) -> str:
    before, now = row["before"], row["incidents"]
    if not before:
        return "new" if now else "—"
    return f"{(now - before) / before:+.0%}"


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("service.reports", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=False,
    )
    env.filters.update(
        day=_day,
        moment=_moment,
        num=_num,
        fixed=_fixed,
        words=_words,
        bounds=_bounds,
        change=_change,
    )
    return env


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def render_html(report: Report) -> str:
    """The report as one HTML page, its map and charts inlined as PNG."""
    if not report.images:
        report.images = render_images(report)
    images = {name: _data_uri(png) for name, png in report.images.items()}
    images.setdefault("hotspots", "")
    template = environment().get_template("report.html.j2")
    return template.render(r=report, images=images)


def render_pdf(html: str) -> bytes:
    """The HTML page as an A4 PDF."""
    from weasyprint import HTML  # heavy: loaded when a PDF is asked for

    pdf: bytes = HTML(string=html).write_pdf()
    return pdf
