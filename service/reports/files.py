"""A report as a file, made the same way wherever it is asked for: the API (which hands it to
a job), the job that builds it (``service.job_runner.kinds.report``) and ``civop report``. The
report's figures and maps are ``service.reports.service.build_report``; this module reads its
area and period, names the file and renders it."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Literal

from service.core.params import parse_bbox, parse_datetime
from service.reports.service import Kind, Report, ReportQuery

Format = Literal["html", "pdf"]


def report_query(
    kind: Kind,
    sector: uuid.UUID | None,
    bbox: str | None,
    start: str | None,
    end: str | None,
) -> ReportQuery:
    """A report's area and period from query-string values (dates or RFC 3339 instants)."""
    interval = parse_datetime(f"{start or '..'}/{end or '..'}")
    begin, finish = interval if interval is not None else (None, None)
    return ReportQuery(kind=kind, sector=sector, bbox=parse_bbox(bbox), start=begin, end=finish)


def file_name(report: Report, extension: str) -> str:
    area = re.sub(r"[^A-Za-z0-9]+", "-", report.area_name).strip("-").lower() or "area"
    return f"{report.kind}-{area}-{report.end:%Y-%m-%d}.{extension}"


async def rendered(report: Report, output: Format) -> tuple[bytes, str]:
    """The report's bytes and media type; drawing and PDF layout run in a worker thread."""
    # Drawing (Matplotlib, SciPy) is loaded where a report is made (a job, ``civop report``),
    # not in every process that reads a report's parameters: the API starts without it.
    from service.reports.render import render_html, render_pdf

    html = await asyncio.to_thread(render_html, report)
    if output == "html":
        return html.encode(), "text/html; charset=utf-8"
    return await asyncio.to_thread(render_pdf, html), "application/pdf"
