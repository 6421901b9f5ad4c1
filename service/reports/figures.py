"""The report's images, drawn with matplotlib (Agg, no display, no internet): the map of the
area and the charts. Each function takes figures already computed for the reader and returns
a PNG. The colours are the analysts' map's (``service.viewer.styles``), so the report and the
map read alike."""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, PathPatch
from matplotlib.path import Path as MplPath
from PIL import Image
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from service import labels
from service.i18n import LANGUAGE, N_, SOURCE_LANGUAGE, _, format_day, in_language, is_rtl
from service.reports.service import MapLayers, Report
from service.viewer.styles import (
    BASE_COLOURS,
    INCIDENT_COLOURS,
    PROJECT_COLOURS,
    SECTOR_STYLES,
    SITE_COLOURS,
)

DPI = 200
KM_PER_DEGREE = 111.32
HOT = "#d7301f"
REQUEST = "#ff7f00"
ROUTE = "#3366cc"
LAND = "#f6f4ee"
OUTSIDE = "#e3e6e8"
INK = "#203040"


def _png(figure: Figure) -> bytes:
    """The figure as an opaque PNG (no alpha channel: smaller, and the same in every viewer)."""
    FigureCanvasAgg(figure)
    drawn = io.BytesIO()
    figure.savefig(drawn, format="png", dpi=DPI, facecolor="white")
    out = io.BytesIO()
    Image.open(drawn).convert("RGB").save(out, format="PNG", optimize=True)
    return out.getvalue()


def _rings(shape: BaseGeometry) -> list[np.ndarray[Any, Any]]:
    polygons = getattr(shape, "geoms", [shape])
    rings = []
    for polygon in polygons:
        rings.append(np.asarray(polygon.exterior.coords))
        rings.extend(np.asarray(hole.coords) for hole in polygon.interiors)
    return rings


def _patch(shape: BaseGeometry, **style: Any) -> PathPatch:
    vertices, codes = [], []
    for ring in _rings(shape):
        vertices.extend(ring.tolist())
        codes.extend([MplPath.MOVETO] + [MplPath.LINETO] * (len(ring) - 2) + [MplPath.CLOSEPOLY])
    return PathPatch(MplPath(vertices, codes), **style)


def _dash(pattern: str | None) -> Any:
    if not pattern:
        return "solid"
    return (0, tuple(float(p) for p in pattern.split()))


def _scale_bar(axes: Any, x0: float, x1: float, y0: float, y1: float, lat: float) -> None:
    """A bar of a round number of kilometres, bottom left."""
    width_km = (x1 - x0) * KM_PER_DEGREE * math.cos(math.radians(lat))
    target = width_km / 5
    magnitude = 10 ** math.floor(math.log10(target))
    km = max(s * magnitude for s in (1, 2, 5) if s * magnitude <= target)
    degrees = km / (KM_PER_DEGREE * math.cos(math.radians(lat)))
    bx, by = x0 + (x1 - x0) * 0.04, y0 + (y1 - y0) * 0.04
    axes.plot([bx, bx + degrees], [by, by], color=INK, linewidth=3, solid_capstyle="butt")
    axes.text(
        bx + degrees / 2,
        by + (y1 - y0) * 0.012,
        f"{km:g} km",
        ha="center",
        va="bottom",
        fontsize=7,
        color=INK,
    )
    nx, ny = x1 - (x1 - x0) * 0.05, y1 - (y1 - y0) * 0.1
    axes.annotate(
        "N",
        xy=(nx, ny + (y1 - y0) * 0.06),
        xytext=(nx, ny),
        ha="center",
        fontsize=9,
        fontweight="bold",
        color=INK,
        arrowprops={"arrowstyle": "-|>", "color": INK},
    )


def area_map(layers: MapLayers, title: str) -> bytes:
    """The area with its sectors, hot-spot cells, patrol routes, incidents, IDP sites (sized by
    population, the most exposed numbered), bases, projects at risk and open requests."""
    area = layers.area
    ax0, ay0, ax1, ay1 = area.bounds
    pad = max(ax1 - ax0, ay1 - ay0) * 0.04
    x0, y0, x1, y1 = ax0 - pad, ay0 - pad, ax1 + pad, ay1 + pad
    lat = (y0 + y1) / 2
    aspect = 1 / math.cos(math.radians(lat))
    height = 7.4
    width = min(7.4, max(4.5, height * (x1 - x0) / ((y1 - y0) * aspect) + 0.6))
    figure = Figure(figsize=(width, height))
    axes = figure.add_axes((0.09, 0.2, 0.88, 0.75))
    axes.set_facecolor(OUTSIDE)
    axes.add_patch(_patch(area, facecolor=LAND, edgecolor="none", zorder=0))
    for cell in layers.hot_cells:
        alpha = {99: 0.55, 95: 0.4, 90: 0.28}.get(int(cell["confidence"]), 0.2)
        axes.fill(*zip(*cell["ring"], strict=True), color=HOT, alpha=alpha, linewidth=0, zorder=1)
    if layers.patrols:
        segments = [np.asarray(route.coords) for route in layers.patrols]
        axes.add_collection(
            LineCollection(segments, colors=ROUTE, linewidths=0.4, alpha=0.35, zorder=2)
        )
    for sector in sorted(
        layers.sectors, key=lambda s: {"battalion": 0, "sector": 1}.get(s["level"], 2)
    ):
        style = SECTOR_STYLES.get(sector["level"], SECTOR_STYLES["sector"])
        axes.add_patch(
            _patch(
                sector["shape"],
                facecolor="none",
                edgecolor=style["color"],
                linewidth=style["weight"] * 0.6,
                linestyle=_dash(style["dashArray"]),
                zorder=3,
            )
        )
        if sector["name"] and sector["level"] != "force":
            centre = sector["shape"].representative_point()
            if area.contains(centre):
                axes.text(
                    centre.x,
                    centre.y,
                    sector["name"],
                    fontsize=6,
                    color="#506070",
                    ha="center",
                    va="center",
                    alpha=0.8,
                    zorder=3,
                )
    incidents = layers.incidents
    if len(incidents.get("lon", [])):
        colours = [INCIDENT_COLOURS.get(c, "#8c8c8c") for c in incidents["category"]]
        axes.scatter(
            incidents["lon"], incidents["lat"], s=2.5, c=colours, alpha=0.55, linewidths=0, zorder=4
        )
    # One scatter per layer (a collection each), not one per point: a mission has thousands
    # of sites.
    if layers.bases:
        axes.scatter(
            [base.x for base in layers.bases],
            [base.y for base in layers.bases],
            marker="s",
            s=16,
            color=BASE_COLOURS["company_base"],
            edgecolors="black",
            linewidths=0.5,
            zorder=6,
        )
    if layers.sites:
        places = [site["shape"].representative_point() for site in layers.sites]
        sizes = [
            6 + 60 * math.sqrt((site["population_individuals"] or 1000) / 20_000)
            for site in layers.sites
        ]
        edges = [SITE_COLOURS.get(site["status"], SITE_COLOURS["open"]) for site in layers.sites]
        axes.scatter(
            [p.x for p in places],
            [p.y for p in places],
            s=sizes,
            facecolors="white",
            edgecolors=edges,
            linewidths=1.2,
            alpha=0.9,
            zorder=5,
        )
    if layers.projects_at_risk:
        places = [shape(p["point"]).representative_point() for p in layers.projects_at_risk]
        axes.scatter(
            [p.x for p in places],
            [p.y for p in places],
            marker="D",
            s=22,
            color=PROJECT_COLOURS["ongoing"],
            edgecolors="white",
            linewidths=0.5,
            zorder=7,
        )
    if layers.requests:
        places = [request["shape"].representative_point() for request in layers.requests]
        axes.scatter(
            [p.x for p in places],
            [p.y for p in places],
            marker="^",
            s=34,
            color=REQUEST,
            edgecolors="black",
            linewidths=0.5,
            zorder=8,
        )
    for site in layers.exposed[:5]:
        point = shape(site["point"]).representative_point()
        axes.annotate(
            str(site["rank"]),
            (point.x, point.y),
            xytext=(4, 4),
            textcoords="offset points",
            fontsize=7,
            fontweight="bold",
            color="#0b6e4f",
            bbox={"boxstyle": "circle,pad=0.15", "fc": "white", "ec": "#0b6e4f", "lw": 0.6},
            zorder=9,
        )
    axes.set_xlim(x0, x1)
    axes.set_ylim(y0, y1)
    axes.set_aspect(aspect)
    axes.tick_params(labelsize=6, colors="#555555")
    axes.set_xlabel(_("longitude (°E)"), fontsize=6, color="#555555")
    axes.set_ylabel(_("latitude (°N)"), fontsize=6, color="#555555")
    axes.set_title(title, fontsize=9, color=INK, loc="left")
    _scale_bar(axes, x0, x1, y0, y1, lat)
    present = sorted(set(incidents.get("category", [])), key=list(INCIDENT_COLOURS).index)
    handles: list[Any] = [
        Line2D(
            [],
            [],
            marker="o",
            linestyle="",
            markersize=4,
            color=INCIDENT_COLOURS[c],
            label=labels.label(c),
        )
        for c in present
    ]
    handles += [
        Patch(facecolor=HOT, alpha=0.45, label=_("hot spot (Gi*)")),
        Line2D([], [], color=ROUTE, linewidth=1, alpha=0.6, label=_("patrol route")),
        Line2D(
            [],
            [],
            marker="o",
            linestyle="",
            markersize=6,
            markerfacecolor="white",
            markeredgecolor=SITE_COLOURS["open"],
            label=_("IDP site (size: population)"),
        ),
        Line2D(
            [],
            [],
            marker="s",
            linestyle="",
            markersize=5,
            color=BASE_COLOURS["company_base"],
            markeredgecolor="black",
            label=_("base"),
        ),
        Line2D(
            [],
            [],
            marker="D",
            linestyle="",
            markersize=5,
            color=PROJECT_COLOURS["ongoing"],
            label=_("project at risk"),
        ),
        Line2D(
            [],
            [],
            marker="^",
            linestyle="",
            markersize=6,
            color=REQUEST,
            markeredgecolor="black",
            label=_("open request"),
        ),
        Line2D([], [], color=INK, linewidth=1.2, label=_("area of responsibility")),
    ]
    figure.legend(
        handles=handles,
        loc="lower center",
        ncol=4,
        fontsize=6,
        frameon=False,
        bbox_to_anchor=(0.5, 0.0),
    )
    return _png(figure)


def trend_chart(report: Report) -> bytes:
    """Incidents per day, week or month of the period, stacked by category."""
    trend = report.trend
    figure = Figure(figsize=(7.4, 3.6))
    axes = figure.add_axes((0.08, 0.3, 0.9, 0.62))
    starts = trend["starts"]
    bottom = np.zeros(len(starts))
    width = {"day": 0.8, "week": 5.6, "month": 24.0}[trend["unit"]]
    order = sorted(trend["counts"], key=lambda c: -sum(trend["counts"][c]))
    for category in order:
        values = np.asarray(trend["counts"][category], dtype=float)
        axes.bar(
            starts,
            values,
            width=width,
            bottom=bottom,
            align="edge",
            color=INCIDENT_COLOURS.get(category, "#8c8c8c"),
            label=labels.label(category),
            linewidth=0,
        )
        bottom += values
    locator = AutoDateLocator()  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    axes.tick_params(labelsize=7)
    axes.set_ylabel(
        _("incidents per {unit}", unit=_(UNIT_WORDS.get(trend["unit"], trend["unit"]))),
        fontsize=7,
    )
    axes.set_title(_("Incidents by category over the period"), fontsize=9, loc="left", color=INK)
    axes.spines[["top", "right"]].set_visible(False)
    if not order:
        axes.text(
            0.5,
            0.5,
            "no incident in the period",
            transform=axes.transAxes,
            ha="center",
            va="center",
            fontsize=8,
            color="#777777",
        )
    else:
        figure.legend(loc="lower center", ncol=4, fontsize=6, frameon=False)
    return _png(figure)


def category_chart(report: Report) -> bytes:
    """Incidents per category in the period and in the period before it."""
    rows = report.categories
    figure = Figure(figsize=(7.4, max(1.8, 0.32 * len(rows) + 1.0)))
    axes = figure.add_axes((0.3, 0.18, 0.66, 0.7))
    names = [r["category"].replace("_", " ") for r in rows]
    y = np.arange(len(rows))
    axes.barh(
        y + 0.2,
        [r["before"] for r in rows],
        height=0.38,
        color="#c8ccd0",
        label=_("period before"),
    )
    axes.barh(
        y - 0.2,
        [r["incidents"] for r in rows],
        height=0.38,
        color=[INCIDENT_COLOURS.get(r["category"], "#8c8c8c") for r in rows],
        label=_("this period"),
    )
    axes.set_yticks(y, names, fontsize=7)
    axes.invert_yaxis()
    axes.tick_params(axis="x", labelsize=7)
    axes.set_title(
        _("Incidents by category: this period and the one before"),
        fontsize=9,
        loc="left",
        color=INK,
    )
    axes.spines[["top", "right"]].set_visible(False)
    axes.legend(fontsize=6, frameon=False, loc="lower right")
    return _png(figure)


def hotspot_chart(report: Report) -> bytes:
    """Incidents and Gi* hot-spot cells in each window up to the period (the trend)."""
    windows = report.hotspots.get("windows", [])
    figure = Figure(figsize=(7.4, 2.6))
    axes = figure.add_axes((0.08, 0.2, 0.84, 0.66))
    labels = [w["start"].strftime("%d %b %Y") for w in windows]
    x = np.arange(len(windows))
    axes.bar(x, [w["incidents"] for w in windows], color="#9ecae1", label=_("incidents"))
    axes.set_xticks(x, [f"from {label}" for label in labels], fontsize=7)
    axes.set_ylabel(_("incidents"), fontsize=7)
    axes.tick_params(axis="y", labelsize=7)
    twin = axes.twinx()
    twin.plot(
        x, [w["hot_spots"] for w in windows], color=HOT, marker="o", label=_("hot-spot cells")
    )
    twin.set_ylabel("hot-spot cells", fontsize=7, color=HOT)
    twin.tick_params(axis="y", labelsize=7, colors=HOT)
    twin.set_ylim(bottom=0)
    axes.set_title(
        _("Hot spots and their trend, window by window"), fontsize=9, loc="left", color=INK
    )
    return _png(figure)


#: The bars' time unit, as the y axis names it.
UNIT_WORDS = {"day": N_("day"), "week": N_("week"), "month": N_("month")}


def render_images(report: Report) -> dict[str, bytes]:
    """Every image of the report, by name, in the report's language. Matplotlib neither joins
    Arabic letters nor lays them right to left: the charts of a right-to-left report are drawn
    in English (its tables and text are translated)."""
    with in_language(SOURCE_LANGUAGE if is_rtl() else LANGUAGE.get()):
        return _images(report)


def _images(report: Report) -> dict[str, bytes]:
    images = {
        "map": area_map(
            report.layers,
            _(
                "{area}, {start} to {end}",
                area=report.area_name,
                start=format_day(report.start),
                end=format_day(report.end),
            ),
        ),
        "trend": trend_chart(report),
        "categories": category_chart(report),
    }
    if report.hotspots.get("windows"):
        images["hotspots"] = hotspot_chart(report)
    return images
