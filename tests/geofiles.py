"""Real files of every import format, written with GDAL (pyogrio) and the csv module, for the
import and export tests."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyogrio
import shapely
from pyproj import Transformer

#: Three incidents in the test mission's North-West battalion area.
INCIDENTS: list[dict[str, Any]] = [
    {
        "external_id": "inc-1",
        "category": "armed_clash",
        "occurred_at": "2026-09-01T08:00:00Z",
        "severity": 3,
        "killed": 2,
        "description": "Exchange of fire near the market",
        "lon": 24.11,
        "lat": 7.21,
    },
    {
        "external_id": "inc-2",
        "category": "looting",
        "occurred_at": "2026-09-02T09:30:00Z",
        "severity": 2,
        "killed": 0,
        "description": "Shops looted",
        "lon": 24.52,
        "lat": 7.63,
    },
    {
        "external_id": "inc-3",
        "category": "abduction",
        "occurred_at": "2026-09-03T17:45:00Z",
        "severity": 4,
        "killed": 1,
        "description": "Two aid workers taken",
        "lon": 25.03,
        "lat": 8.04,
    },
]
FIELDS = ("external_id", "category", "occurred_at", "severity", "killed", "description")


def table(records: Sequence[dict[str, Any]] = INCIDENTS, crs: str | None = None) -> pa.Table:
    """Attributes plus a WKB ``geometry`` column, optionally projected to ``crs``."""
    x = [r["lon"] for r in records]
    y = [r["lat"] for r in records]
    if crs:
        x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(x, y)
    columns: dict[str, Any] = {}
    for name in records[0]:
        if name in ("lon", "lat"):
            continue
        values = [r[name] for r in records]
        kind = pa.int32() if isinstance(values[0], int) else pa.string()
        columns[name] = pa.array(values, kind)
    columns["geometry"] = pa.array(shapely.to_wkb(shapely.points(x, y)), pa.binary())
    return pa.table(columns)


def write(
    path: Path,
    data: pa.Table,
    driver: str,
    *,
    crs: str | None = "EPSG:4326",
    layer: str | None = None,
    geometry_type: str = "Point",
    encoding: str | None = None,
    append: bool = False,
) -> Path:
    pyogrio.write_arrow(
        data,
        path,
        layer=layer,
        driver=driver,
        geometry_name="geometry",
        geometry_type=geometry_type,
        crs=crs,
        encoding=encoding,
        append=append,
    )
    return path


def zip_files(target: Path, files: Sequence[Path], names: Sequence[str] | None = None) -> Path:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for i, f in enumerate(files):
            bundle.write(f, names[i] if names else f.name)
    return target


def shapefile_zip(
    folder: Path,
    data: pa.Table,
    *,
    crs: str | None = "EPSG:4326",
    encoding: str | None = None,
    name: str = "incidents",
    leave_out: Sequence[str] = (),
    geometry_type: str = "Point",
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write(
        folder / f"{name}.shp",
        data,
        "ESRI Shapefile",
        crs=crs,
        encoding=encoding,
        geometry_type=geometry_type,
    )
    parts = [
        p for p in sorted(folder.iterdir()) if p.stem == name and p.suffix.lower() not in leave_out
    ]
    return zip_files(folder.parent / f"{name}-{folder.name}.zip", parts)


def csv_text(rows: Sequence[Sequence[Any]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def incidents_csv(records: Sequence[dict[str, Any]] = INCIDENTS, hxl: bool = False) -> str:
    header = [*FIELDS, "latitude", "longitude"]
    rows: list[list[Any]] = [header]
    if hxl:
        rows.append(
            [
                "#meta+external_id",
                "#event+category",
                "#date+occurred",
                "#severity",
                "#affected+killed",
                "#description",
                "#geo+lat",
                "#geo+lon",
            ]
        )
    for r in records:
        rows.append([*(r[f] for f in FIELDS), r["lat"], r["lon"]])
    return csv_text(rows)


ACLED_HEADER = [
    "event_id_cnty",
    "event_date",
    "year",
    "event_type",
    "sub_event_type",
    "actor1",
    "actor2",
    "admin1",
    "admin2",
    "admin3",
    "location",
    "latitude",
    "longitude",
    "geo_precision",
    "source",
    "notes",
    "fatalities",
]


def acled_csv(rows: Sequence[dict[str, Any]]) -> str:
    return csv_text([ACLED_HEADER, *([r.get(c, "") for c in ACLED_HEADER] for r in rows)])


ACLED_ROWS = [
    {
        "event_id_cnty": "CEN1001",
        "event_date": "2026-08-14",
        "year": 2026,
        "event_type": "Violence against civilians",
        "sub_event_type": "Abduction/forced disappearance",
        "actor1": "Unidentified Armed Group",
        "actor2": "Civilians",
        "admin1": "Nord",
        "admin2": "Kaga",
        "location": "Kaga-Bandoro",
        "latitude": 7.0,
        "longitude": 24.5,
        "geo_precision": 1,
        "source": "Radio Ndeke Luka",
        "notes": "Three farmers abducted on the road.",
        "fatalities": 0,
    },
    {
        "event_id_cnty": "CEN1002",
        "event_date": "15 August 2026",
        "year": 2026,
        "event_type": "Battles",
        "sub_event_type": "Armed clash",
        "actor1": "Militia A",
        "actor2": "Militia B",
        "admin1": "Nord",
        "location": "Batangafo",
        "latitude": 7.3,
        "longitude": 25.1,
        "geo_precision": 2,
        "source": "Local partner",
        "notes": "Clashes over cattle.",
        "fatalities": 7,
    },
]

DTM_HEADER = [
    "SSID",
    "Site Name",
    "Site Type",
    "Site Status",
    "GPS Latitude",
    "GPS Longitude",
    "Total IDP Individuals",
    "Total IDP Households",
    "Assessment Date",
]
DTM_ROWS = [
    ["CF-0101", "Kalembe", "Planned camp", "Open", 7.4, 24.8, 12000, 2400, "2026-07-30"],
    ["CF-0102", "Site Eglise", "Collective centre", "Open", 7.8, 25.2, 800, 160, "2026-07-30"],
    ["CF-0103", "Bord de riviere", "Spontaneous site", "Closed", 8.1, 25.6, 0, 0, "2026-07-28"],
]


def dtm_csv() -> str:
    return csv_text([DTM_HEADER, *DTM_ROWS])


EXPORT_SUFFIX = {
    "geojson": ".geojson",
    "gpkg": ".gpkg",
    "shapefile": ".zip",
    "kml": ".kml",
    "csv": ".csv",
}
#: Fields LIBKML adds to every KML layer it reads.
KML_EXTRAS = {
    "timestamp",
    "begin",
    "end",
    "altitudeMode",
    "tessellate",
    "extrude",
    "visibility",
    "drawOrder",
    "icon",
    "snippet",
}


def _jsonable(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def features_of(path: Path, fmt: str, full_names: Sequence[str] = ()) -> list[dict[str, Any]]:
    """An exported file read back (with GDAL, or the csv module) as GeoJSON features:
    ``id`` from the id field, coordinates at 7 decimals as the API prints them, shapefile names
    given back their full length, and for CSV and shapefile (which cannot tell an empty text
    from none) empty text as null."""
    import json

    from geo.formats.shapefile import short_names

    if fmt == "geojson":
        return list(json.loads(path.read_text())["features"])
    rows: list[tuple[dict[str, Any], Any]] = []
    if fmt == "csv":
        with path.open(newline="", encoding="utf-8") as stream:
            reader = csv.reader(stream)
            header = next(reader)
            next(reader)  # the HXL row
            for values in reader:
                record: dict[str, Any] = dict(zip(header, values, strict=True))
                shape = shapely.from_wkt(record.pop("wkt")) if record.get("wkt") else None
                record.pop("longitude", None)
                record.pop("latitude", None)
                rows.append((record, shape))
    else:
        source = f"/vsizip/{path}" if fmt == "shapefile" else str(path)
        for layer, _ in pyogrio.list_layers(source):
            with pyogrio.open_arrow(source, layer=layer, use_pyarrow=True) as (meta, reader):
                geometry_name = meta["geometry_name"] or "wkb_geometry"
                for batch in reader:
                    for record in batch.to_pylist():
                        wkb = record.pop(geometry_name)
                        rows.append((record, shapely.from_wkb(wkb) if wkb else None))
    longer = {short: name for name, short in short_names(list(full_names)).items()}
    features = []
    for record, shape in rows:
        properties: dict[str, Any] = {}
        for key, value in record.items():
            if fmt == "kml" and key in KML_EXTRAS:
                continue
            name = longer.get(key, key) if fmt == "shapefile" else key
            name = "name" if fmt == "kml" and name == "Name" else name
            if fmt in ("csv", "shapefile") and value == "":
                value = None
            if name == "generalised" and isinstance(value, str | int):
                value = str(value).lower() in ("true", "1")
            properties[name] = _jsonable(value)
        record_id = properties.pop("id", None)
        geometry = None
        if shape is not None:
            geometry = _rounded(json.loads(shapely.to_geojson(shapely.force_2d(shape))))
        features.append(
            {"type": "Feature", "id": record_id, "geometry": geometry, "properties": properties}
        )
    return features


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 7)
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value
