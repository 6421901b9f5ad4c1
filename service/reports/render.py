"""A report as a self-contained HTML page (Jinja2, images inlined) and as a PDF (WeasyPrint,
from the same page). Nothing is fetched from anywhere: the images are in the page."""

from __future__ import annotations

import base64
from datetime import date, datetime
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from service import labels
from service.i18n import (
    LANGUAGE,
    _,
    direction,
    format_day,
    format_moment,
    format_number,
    format_percent,
)
from service.reports.figures import render_images
from service.reports.service import Report


def _day(value: datetime | date | str | None) -> str:
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return format_day(value)


def _moment(value: datetime | None) -> str:
    return format_moment(value)


def _num(value: Any) -> str:
    return format_number(value)


def _fixed(value: Any, digits: int = 1) -> str:
    return "—" if value is None else format_number(float(value), digits=digits)


def _words(value: str | None) -> str:
    """An enumerated value's label in the report's language."""
    return "—" if value is None or value == "" else labels.label(value)


def _bounds(value: tuple[float, float, float, float]) -> str:
    x0, y0, x1, y1 = value
    return _(
        "lon {west} to {east}, lat {south} to {north}",
        west=format_number(x0, digits=2),
        east=format_number(x1, digits=2),
        south=format_number(y0, digits=2),
        north=format_number(y1, digits=2),
    )


def _change(row: dict[str, Any]) -> str:
    before, now = row["before"], row["incidents"]
    if not before:
        return _("new") if now else "—"
    return format_percent((now - before) / before, signed=True)


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
    env.globals.update(_=_)
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
    language = LANGUAGE.get()
    return template.render(r=report, images=images, lang=language, dir=direction(language))


def render_pdf(html: str) -> bytes:
    """The HTML page as an A4 PDF."""
    from weasyprint import HTML  # heavy: loaded when a PDF is asked for

    pdf: bytes = HTML(string=html).write_pdf()
    return pdf
