"""A map view printed for a briefing (PDF or PNG), drawn with matplotlib: the basemap's tiles,
areas, places, IDP sites and incidents of the view, with title, legend, scale bar, north arrow,
period, the classification banner of the most sensitive record drawn, and who printed it when.

Nothing here reads the database: the caller hands over what the reader may see.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Web Mercator metres of the world's half width.
HALF_WORLD_M = 20037508.342789244
#: Banner colours by classification (text on them is white).
BANNER = {"public": "#1b7837", "mission": "#0b3d5c", "restricted": "#b2182b"}
CLASSIFICATION_ORDER = ("public", "mission", "restricted")
#: At most this many basemap tiles are stitched under a print.
MAX_TILES = 64


def mercator(lon: np.ndarray | float, lat: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Web Mercator metres of WGS 84 degrees."""
    lon_a = np.asarray(lon, dtype=float)
    lat_a = np.clip(np.asarray(lat, dtype=float), -85.05, 85.05)
    x = lon_a * HALF_WORLD_M / 180.0
    y = np.log(np.tan(np.radians(45.0 + lat_a / 2.0))) * HALF_WORLD_M / math.pi
    return x, y


@dataclass
class PrintLayers:
    """What the reader may see in the view, as plain values."""

    #: (lon, lat, category, classification) of each incident.
    incidents: list[tuple[float, float, str, str]] = field(default_factory=list)
    #: (name or None, lon, lat, population, classification) of each IDP site.
    sites: list[tuple[str | None, float, float, int | None, str]] = field(default_factory=list)
    #: (name, lon, lat, place class, classification) of each place.
    places: list[tuple[str, float, float, str, str]] = field(default_factory=list)
    #: (name or None, [[(lon, lat), ...] rings], level, classification) of each area.
    areas: list[tuple[str | None, list[list[tuple[float, float]]], str, str]] = field(
        default_factory=list
    )


@dataclass(frozen=True)
class PrintSheet:
    title: str
    bbox: tuple[float, float, float, float]
    period: str
    printed_by: str
    printed_at: str
    fmt: str = "pdf"
    category_colours: dict[str, str] = field(default_factory=dict)
    category_labels: dict[str, str] = field(default_factory=dict)
    #: Zoom of the view on screen: which places are labelled.
    zoom: int = 9


def most_sensitive(layers: PrintLayers) -> str:
    """The classification of the most sensitive record drawn.

    Examples
    --------
    >>> most_sensitive(PrintLayers(incidents=[(26.0, 6.0, "looting", "mission")]))
    'mission'
    >>> most_sensitive(PrintLayers())
    'public'
    """
    found = {r[3] for r in layers.incidents} | {r[4] for r in layers.sites}
    found |= {r[4] for r in layers.places} | {r[3] for r in layers.areas}
    for level in reversed(CLASSIFICATION_ORDER):
        if level in found:
            return level
    return "public"


def _basemap(
    tile_of: Callable[[int, int, int], bytes | None] | None,
    bbox: tuple[float, float, float, float],
    zooms: tuple[int, int],
) -> tuple[np.ndarray, tuple[float, float, float, float]] | None:
    """The basemap tiles covering ``bbox`` stitched into one image, and its extent (metres)."""
    if tile_of is None:
        return None
    from PIL import Image

    west, south, east, north = bbox
    for z in range(min(zooms[1], 14), zooms[0] - 1, -1):
        n = 2**z
        x0 = int((west + 180) / 360 * n)
        x1 = int((east + 180) / 360 * n)
        y0 = int((1 - math.asinh(math.tan(math.radians(north))) / math.pi) / 2 * n)
        y1 = int((1 - math.asinh(math.tan(math.radians(south))) / math.pi) / 2 * n)
        if (x1 - x0 + 1) * (y1 - y0 + 1) <= MAX_TILES:
            break
    else:
        return None
    mosaic = Image.new("RGB", ((x1 - x0 + 1) * 256, (y1 - y0 + 1) * 256), (238, 241, 234))
    for x in range(x0, x1 + 1):
        for y in range(y0, y1 + 1):
            data = tile_of(z, x, y)
            if data:
                tile = Image.open(io.BytesIO(data)).convert("RGB")
                mosaic.paste(tile, ((x - x0) * 256, (y - y0) * 256))
    size = 2 * HALF_WORLD_M / n
    left = -HALF_WORLD_M + x0 * size
    top = HALF_WORLD_M - y0 * size
    extent = (left, left + (x1 - x0 + 1) * size, top - (y1 - y0 + 1) * size, top)
    return np.asarray(mosaic), extent


def _scale_bar(ax: object, bbox: tuple[float, float, float, float]) -> None:
    west, south, east, north = bbox
    lat = (south + north) / 2
    x0, y0 = mercator(west, south)
    x1, y1 = mercator(east, north)
    width_m = float(x1 - x0) * math.cos(math.radians(lat))  # ground metres across the view
    target = width_m / 5
    exponent = 10 ** math.floor(math.log10(target))
    length = max(s * exponent for s in (1, 2, 5) if s * exponent <= target)
    on_map = length / math.cos(math.radians(lat))
    left = float(x0) + (float(x1) - float(x0)) * 0.04
    base = float(y0) + (float(y1) - float(y0)) * 0.04
    ax.plot([left, left + on_map], [base, base], color="black", linewidth=3, solid_capstyle="butt")  # type: ignore[attr-defined]
    text = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    ax.text(left + on_map / 2, base + (float(y1) - float(y0)) * 0.012, text, ha="center",  # type: ignore[attr-defined]
            va="bottom", fontsize=8, bbox={"facecolor": "white", "alpha": 0.7, "linewidth": 0})  # fmt: skip


def render_print(
    sheet: PrintSheet,
    layers: PrintLayers,
    out: Path,
    *,
    basemap: Callable[[int, int, int], bytes | None] | None = None,
    basemap_zooms: tuple[int, int] = (0, 14),
    place_classes: Sequence[str] = ("city", "town", "village"),
) -> Path:
    """Draw the sheet into ``out`` (PDF or PNG, as ``sheet.fmt`` says).

    Parameters
    ----------
    sheet
        Title, view, period, who printed it when, and the category colours.
    layers
        What the reader may see in the view (see :class:`PrintLayers`).
    out
        The file to write.
    basemap
        ``basemap(z, x, y)`` returns a tile's PNG bytes (XYZ), or ``None`` for a plain background.
    basemap_zooms
        The zooms the basemap holds.
    place_classes
        Classes of place labelled.

    Returns
    -------
    Path
        ``out``.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrow, Rectangle

    level = most_sensitive(layers)
    figure = plt.figure(figsize=(11.69, 8.27))
    figure.patch.set_facecolor("white")
    for y in (0.965, 0.0):
        figure.patches.append(Rectangle((0, y), 1, 0.035, transform=figure.transFigure,
                                        color=BANNER[level], zorder=10))  # fmt: skip
        figure.text(0.5, y + 0.0175, level.upper(), color="white", ha="center", va="center",
                    fontsize=12, fontweight="bold", zorder=11)  # fmt: skip
    figure.text(0.03, 0.93, sheet.title, fontsize=17, fontweight="bold", va="center")
    figure.text(0.03, 0.895, f"Period: {sheet.period}", fontsize=10, va="center")
    figure.text(0.97, 0.895, f"Printed by {sheet.printed_by} on {sheet.printed_at}",
                fontsize=9, ha="right", va="center", color="#333333")  # fmt: skip
    ax = figure.add_axes((0.03, 0.06, 0.72, 0.81))
    west, south, east, north = sheet.bbox
    (x0, x1), (y0, y1) = mercator(np.array([west, east]), np.array([south, north]))
    ax.set_xlim(float(x0), float(x1))
    ax.set_ylim(float(y0), float(y1))
    ax.set_aspect("equal", adjustable="box")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_facecolor("#eef1ea")
    stitched = _basemap(basemap, sheet.bbox, basemap_zooms)
    if stitched is not None:
        image, extent = stitched
        ax.imshow(image, extent=extent, interpolation="bilinear", zorder=0)
    ax.set_xlim(float(x0), float(x1))
    ax.set_ylim(float(y0), float(y1))

    for _name, rings, area_level, _ in layers.areas:
        width = {"force": 2.2, "sector": 1.6}.get(area_level, 0.9)
        for ring in rings:
            xs, ys = mercator(np.array([p[0] for p in ring]), np.array([p[1] for p in ring]))
            ax.plot(xs, ys, color="#203040", linewidth=width, zorder=2,
                    linestyle="-" if area_level != "battalion" else "--")  # fmt: skip

    legend = []
    if layers.incidents:
        lon = np.array([r[0] for r in layers.incidents])
        lat = np.array([r[1] for r in layers.incidents])
        xs, ys = mercator(lon, lat)
        categories = [r[2] for r in layers.incidents]
        colours = [sheet.category_colours.get(c, "#888888") for c in categories]
        ax.scatter(xs, ys, s=14, c=colours, edgecolors="white", linewidths=0.4, zorder=4)
        for category in sheet.category_colours:
            if category in set(categories):
                count = categories.count(category)
                legend.append(Line2D([], [], marker="o", linestyle="", markersize=7,
                                     markerfacecolor=sheet.category_colours[category],
                                     markeredgecolor="white",
                                     label=f"{sheet.category_labels.get(category, category)} ({count})"))  # fmt: skip
    if layers.sites:
        xs, ys = mercator(
            np.array([s[1] for s in layers.sites]), np.array([s[2] for s in layers.sites])
        )
        sizes = [max(20.0, min(300.0, math.sqrt(s[3] or 0) * 0.8)) for s in layers.sites]
        ax.scatter(xs, ys, s=sizes, c="#0b6e4f", alpha=0.8, edgecolors="white", zorder=5)
        legend.append(Line2D([], [], marker="o", linestyle="", markersize=9,
                             markerfacecolor="#0b6e4f", markeredgecolor="white", label="IDP site"))  # fmt: skip
    for name, lon_p, lat_p, place_class, _ in layers.places:
        if place_class not in place_classes:
            continue
        px, py = mercator(lon_p, lat_p)
        x, y = float(px), float(py)
        size = {"city": 11, "town": 9.5, "village": 7.5}.get(place_class, 7)
        ax.plot([x], [y], marker="o", markersize=3, color="#1d2733", zorder=6)
        ax.annotate(name, (x, y), xytext=(4, 2), textcoords="offset points",
                    fontsize=size, zorder=7, fontweight="bold" if place_class in ("city", "town") else "normal",
                    bbox={"facecolor": "white", "alpha": 0.55, "linewidth": 0, "pad": 0.5})  # fmt: skip
    if layers.places:
        legend.append(
            Line2D([], [], marker="o", linestyle="", markersize=4, color="#1d2733", label="Place")
        )
    if layers.areas:
        legend.append(
            Line2D([], [], color="#203040", linewidth=1.6, label="Area of responsibility")
        )

    _scale_bar(ax, sheet.bbox)
    # North arrow: Web Mercator keeps north up.
    ax.add_patch(FancyArrow(0.95, 0.86, 0, 0.08, width=0.012, head_width=0.035, head_length=0.03,
                            transform=ax.transAxes, color="black", zorder=8))  # fmt: skip
    ax.text(0.95, 0.82, "N", transform=ax.transAxes, ha="center", va="center", fontsize=12,
            fontweight="bold", zorder=8)  # fmt: skip

    key = figure.add_axes((0.77, 0.06, 0.2, 0.81))
    key.axis("off")
    key.text(0, 1, "Legend", fontsize=12, fontweight="bold", va="top", transform=key.transAxes)
    if legend:
        key.legend(handles=legend, loc="upper left", bbox_to_anchor=(0, 0.96), frameon=False,
                   fontsize=8.5, title="Incidents and features", title_fontsize=9,
                   alignment="left")  # fmt: skip
    key.text(0, 0.02, f"View: {west:.3f}, {south:.3f} to {east:.3f}, {north:.3f} (WGS 84)\n"
             f"Incidents drawn: {len(layers.incidents)}\nSource: civop", fontsize=7.5,
             va="bottom", transform=key.transAxes, color="#333333")  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, format=sheet.fmt, dpi=150 if sheet.fmt == "png" else 100)
    plt.close(figure)
    return out
