"""The report's images, drawn with matplotlib (Agg, no display, no internet): the map of the
area and the charts, in the report's language. Each function takes figures already computed for
the reader and returns a matplotlib figure; :func:`render_images` draws them as PNG. The
colours are the analysts' map's (``service.viewer.styles``), so the report and the map read
alike.

Every text a figure draws passes through :func:`_drawn`. Matplotlib (3.11 and later, with
libraqm: HarfBuzz and a bidirectional layout) joins Arabic letters and lays out each run of
text in its own direction; the font is its own DejaVu Sans, which has the Arabic letters. In
an Arabic report the titles are aligned right, legend keys stand right of their labels and the
category chart is mirrored; the map keeps its geography (north up, east right).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.dates import AutoDateLocator, num2date
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, PathPatch
from matplotlib.path import Path as MplPath
from matplotlib.ticker import FuncFormatter
from PIL import Image
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from service import labels
from service.i18n import (
    LANGUAGE,
    N_,
    _,
    format_day,
    format_instant,
    format_kilometres,
    format_number,
    is_rtl,
    mission_zone,
)
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
#: The font of every text: matplotlib's own DejaVu Sans, which has Latin, Arabic and the
#: narrow no-break space French writes numbers with.
FONT = "DejaVu Sans"
#: RIGHT-TO-LEFT MARK: drawn as nothing, it makes a paragraph read right to left.
RLM = "\u200f"


def _drawn(text: object, language: str | None = None) -> str:
    """A text as a figure draws it, in the report's language. Matplotlib joins the letters and
    orders each run (Arabic right to left, Latin names and numbers left to right); in a
    right-to-left report the paragraph itself reads right to left even when it begins with a
    Latin name or a number (``Sector North-West، من ...``): a right-to-left mark first says so."""
    said = str(text)
    return RLM + said if said and is_rtl(language) else said


def _ticks(axis: Any, label: Callable[[float, str], str]) -> None:
    """An axis's ticks labelled by ``label(value, language)``, in the language the figure is
    made in (matplotlib labels ticks when it draws, and again when they are asked for)."""
    language = LANGUAGE.get()

    def labelled(value: float, _position: object = None) -> str:
        return _drawn(label(value, language), language)

    axis.set_major_formatter(FuncFormatter(labelled))


def _numbers(axis: Any) -> None:
    """Numbers along an axis, written for the report's language."""
    _ticks(axis, lambda value, language: format_number(value, language))


def _title(axes: Any, text: str) -> None:
    """A chart's title, where a reader starts reading: left, or right in Arabic."""
    axes.set_title(_drawn(text), fontsize=9, color=INK, loc="right" if is_rtl() else "left")


def _legend_keys() -> dict[str, Any]:
    """A legend's keys before their labels in the reading direction: right of them in Arabic."""
    return {"markerfirst": not is_rtl()}


def _reading_order(handles: list[Any], columns: int) -> list[Any]:
    """A legend's entries in the order matplotlib lays them out (column by column from the
    left) so that they read from the reader's side: in Arabic the first column is the right
    one (the last column, on the left, is filled up with blank entries)."""
    if not is_rtl() or columns < 2:
        return handles
    rows = -(-len(handles) // columns)
    blanks = [
        Line2D([], [], linestyle="", label="") for _blank in range(rows * columns - len(handles))
    ]
    filled = handles + blanks
    by_column = [filled[c * rows : (c + 1) * rows] for c in range(columns)]
    return [handle for column in reversed(by_column) for handle in column]


@contextmanager
def _style() -> Iterator[None]:
    """Drawing in the font that has every letter the report needs, whatever a matplotlibrc
    says (rcParams are the process's: a job process draws one report at a time)."""
    with mpl.rc_context({"font.family": FONT}):
        yield


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
        _drawn(format_kilometres(km)),
        ha="center",
        va="bottom",
        fontsize=7,
        color=INK,
    )
    nx, ny = x1 - (x1 - x0) * 0.05, y1 - (y1 - y0) * 0.1
    axes.annotate(
        _drawn(_("N")),
        xy=(nx, ny + (y1 - y0) * 0.06),
        xytext=(nx, ny),
        ha="center",
        fontsize=9,
        fontweight="bold",
        color=INK,
        arrowprops={"arrowstyle": "-|>", "color": INK},
    )


def area_map(layers: MapLayers, title: str) -> Figure:
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
                    _drawn(sector["name"]),
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
            _drawn(format_number(site["rank"])),
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
    _numbers(axes.xaxis)
    _numbers(axes.yaxis)
    axes.set_xlabel(_drawn(_("longitude (°E)")), fontsize=6, color="#555555")
    axes.set_ylabel(_drawn(_("latitude (°N)")), fontsize=6, color="#555555")
    _title(axes, title)
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
            label=_drawn(labels.label(c)),
        )
        for c in present
    ]
    handles += [
        Patch(facecolor=HOT, alpha=0.45, label=_drawn(_("hot spot (Gi*)"))),
        Line2D([], [], color=ROUTE, linewidth=1, alpha=0.6, label=_drawn(_("patrol route"))),
        Line2D(
            [],
            [],
            marker="o",
            linestyle="",
            markersize=6,
            markerfacecolor="white",
            markeredgecolor=SITE_COLOURS["open"],
            label=_drawn(_("IDP site (size: population)")),
        ),
        Line2D(
            [],
            [],
            marker="s",
            linestyle="",
            markersize=5,
            color=BASE_COLOURS["company_base"],
            markeredgecolor="black",
            label=_drawn(_("base")),
        ),
        Line2D(
            [],
            [],
            marker="D",
            linestyle="",
            markersize=5,
            color=PROJECT_COLOURS["ongoing"],
            label=_drawn(_("project at risk")),
        ),
        Line2D(
            [],
            [],
            marker="^",
            linestyle="",
            markersize=6,
            color=REQUEST,
            markeredgecolor="black",
            label=_drawn(_("open request")),
        ),
        Line2D([], [], color=INK, linewidth=1.2, label=_drawn(_("area of responsibility"))),
    ]
    figure.legend(
        handles=_reading_order(handles, 4),
        loc="lower center",
        ncol=4,
        fontsize=6,
        frameon=False,
        bbox_to_anchor=(0.5, 0.0),
        **_legend_keys(),
    )
    return figure


def _day_axis(axes: Any, starts: list[datetime]) -> None:
    """Dates along the x axis: local days of the mission, written for the report's language
    (``Aug 3``, ``3 août``, ``3 أغسطس``; months and years over a longer period)."""
    zone = mission_zone()
    span = (starts[-1] - starts[0]).days if len(starts) > 1 else 0
    skeleton = "MMMd" if span <= 330 else "yMMM"

    def day(value: float, language: str) -> str:
        moment: datetime = num2date(value, tz=zone)  # type: ignore[no-untyped-call]
        return format_instant(moment, skeleton, language)

    axes.xaxis.set_major_locator(AutoDateLocator(tz=zone))  # type: ignore[no-untyped-call]
    _ticks(axes.xaxis, day)


def trend_chart(report: Report) -> Figure:
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
            label=_drawn(labels.label(category)),
            linewidth=0,
        )
        bottom += values
    if starts:
        _day_axis(axes, starts)
    _numbers(axes.yaxis)
    axes.tick_params(labelsize=7)
    axes.set_ylabel(
        _drawn(_("incidents per {unit}", unit=_(UNIT_WORDS.get(trend["unit"], trend["unit"])))),
        fontsize=7,
    )
    _title(axes, _("Incidents by category over the period"))
    axes.spines[["top", "right"]].set_visible(False)
    if not order:
        axes.text(
            0.5,
            0.5,
            _drawn(_("no incident in the period")),
            transform=axes.transAxes,
            ha="center",
            va="center",
            fontsize=8,
            color="#777777",
        )
    else:
        bars = axes.get_legend_handles_labels()[0]
        figure.legend(
            handles=_reading_order(bars, 4),
            loc="lower center",
            ncol=4,
            fontsize=6,
            frameon=False,
            **_legend_keys(),
        )
    return figure


def category_chart(report: Report) -> Figure:
    """Incidents per category in the period and in the period before it; in Arabic, mirrored
    (the categories on the right, the bars growing leftwards)."""
    rows = report.categories
    rtl = is_rtl()
    figure = Figure(figsize=(7.4, max(1.8, 0.32 * len(rows) + 1.0)))
    axes = figure.add_axes((0.04 if rtl else 0.3, 0.18, 0.66, 0.7))
    names = [_drawn(labels.label(r["category"])) for r in rows]
    y = np.arange(len(rows))
    axes.barh(
        y + 0.2,
        [r["before"] for r in rows],
        height=0.38,
        color="#c8ccd0",
        label=_drawn(_("period before")),
    )
    axes.barh(
        y - 0.2,
        [r["incidents"] for r in rows],
        height=0.38,
        color=[INCIDENT_COLOURS.get(r["category"], "#8c8c8c") for r in rows],
        label=_drawn(_("this period")),
    )
    axes.set_yticks(y, names, fontsize=7)
    axes.invert_yaxis()
    _numbers(axes.xaxis)
    axes.tick_params(axis="x", labelsize=7)
    _title(axes, _("Incidents by category: this period and the one before"))
    if rtl:
        axes.invert_xaxis()
        axes.yaxis.tick_right()
    axes.spines[["top", "left" if rtl else "right"]].set_visible(False)
    axes.legend(
        fontsize=6, frameon=False, loc="lower left" if rtl else "lower right", **_legend_keys()
    )
    return figure


def hotspot_chart(report: Report) -> Figure:
    """Incidents and Gi* hot-spot cells in each window up to the period (the trend)."""
    windows = report.hotspots.get("windows", [])
    figure = Figure(figsize=(7.4, 2.6))
    axes = figure.add_axes((0.08, 0.2, 0.84, 0.66))
    x = np.arange(len(windows))
    axes.bar(x, [w["incidents"] for w in windows], color="#9ecae1", label=_drawn(_("incidents")))
    axes.set_xticks(
        x, [_drawn(_("from {day}", day=format_day(w["start"]))) for w in windows], fontsize=7
    )
    axes.set_ylabel(_drawn(_("incidents")), fontsize=7)
    _numbers(axes.yaxis)
    axes.tick_params(axis="y", labelsize=7)
    twin = axes.twinx()
    twin.plot(
        x,
        [w["hot_spots"] for w in windows],
        color=HOT,
        marker="o",
        label=_drawn(_("hot-spot cells")),
    )
    twin.set_ylabel(_drawn(_("hot-spot cells")), fontsize=7, color=HOT)
    _numbers(twin.yaxis)
    twin.tick_params(axis="y", labelsize=7, colors=HOT)
    twin.set_ylim(bottom=0)
    _title(axes, _("Hot spots and their trend, window by window"))
    return figure


#: The bars' time unit, as the y axis names it.
UNIT_WORDS = {"day": N_("day"), "week": N_("week"), "month": N_("month")}


def render_images(report: Report) -> dict[str, bytes]:
    """Every image of the report, by name, as PNG, in the report's language."""
    return {name: png for name, (_figure, png) in draw(report).items()}


def draw(report: Report) -> dict[str, tuple[Figure, bytes]]:
    """Every figure of the report, by name, with its PNG: the figure as drawn (its texts laid
    out, its ticks labelled), in the report's language."""
    with _style():
        return {name: (figure, _png(figure)) for name, figure in _figures(report).items()}


def _figures(report: Report) -> dict[str, Figure]:
    figures = {
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
        figures["hotspots"] = hotspot_chart(report)
    return figures
