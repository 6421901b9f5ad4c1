"""Coordinate reference systems of imported files: which one applies, and the way to WGS 84."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from shapely.geometry.base import BaseGeometry

WGS84 = CRS.from_epsg(4326)


@dataclass(frozen=True)
class SourceCRS:
    """The CRS a layer's coordinates are in, and where that was learnt."""

    crs: CRS
    #: ``"given"`` (source_crs), ``"file"`` (.prj, the GeoPackage, ...) or ``"format"``
    #: (GeoJSON, KML and lat/lon columns are WGS 84 by definition).
    origin: str

    @property
    def label(self) -> str:
        code = self.crs.to_authority()
        return f"{code[0]}:{code[1]}" if code else self.crs.name

    @property
    def is_wgs84(self) -> bool:
        return bool(self.crs.equals(WGS84, ignore_axis_order=True))


def parse_crs(text: str) -> CRS:
    """A CRS from what a user or a file gives: ``EPSG:32635``, ``32635``, WKT or PROJ text.

    Raises
    ------
    ValueError
        The text names no CRS that PROJ knows.

    Examples
    --------
    >>> parse_crs("32635").to_epsg()
    32635
    """
    value = text.strip()
    if value.isdigit():
        value = f"EPSG:{value}"
    try:
        return CRS.from_user_input(value)
    except CRSError as error:
        raise ValueError(
            f"{text!r} is not a coordinate reference system PROJ knows; give an EPSG code such "
            "as EPSG:32635 (UTM zone 35N) or EPSG:4326 (WGS 84 degrees)"
        ) from error


def resolve(given: str | None, in_file: str | None, format_default: str | None) -> SourceCRS | None:
    """The CRS to read a layer in: the caller's, else the file's, else the format's own.

    Returns ``None`` when nobody says, and the caller must refuse the file.
    """
    if given:
        return SourceCRS(parse_crs(given), "given")
    if in_file:
        return SourceCRS(parse_crs(in_file), "file")
    if format_default:
        return SourceCRS(parse_crs(format_default), "format")
    return None


def to_wgs84(source: SourceCRS) -> Transformer | None:
    """A transformer to WGS 84 longitude/latitude, or ``None`` when none is needed."""
    if source.is_wgs84:
        return None
    return Transformer.from_crs(source.crs, WGS84, always_xy=True)


def reproject(
    geometries: np.ndarray[tuple[int], np.dtype[np.object_]], transformer: Transformer | None
) -> np.ndarray[tuple[int], np.dtype[np.object_]]:
    """Geometries in WGS 84; every coordinate of the batch is transformed in one call."""
    if transformer is None:
        return geometries

    def project(coords: np.ndarray[tuple[int, int], np.dtype[np.float64]]) -> object:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    result: np.ndarray[tuple[int], np.dtype[np.object_]] = shapely.transform(geometries, project)
    return result


def one(geometry: BaseGeometry, transformer: Transformer | None) -> BaseGeometry:
    """One geometry in WGS 84 (used for messages and tests)."""
    array = np.array([geometry], dtype=object)
    projected: BaseGeometry = reproject(array, transformer)[0]
    return projected
