"""The format code on its own (no database, no web service): unpacking, detection, mapping,
values, CRS and geometry checks."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import shapely

import geo.formats
from geo.formats import (
    Area,
    FileRefused,
    Limits,
    Options,
    ProblemLog,
    archive,
    crs,
    geometry,
    mapping,
    open_input,
    tags,
)
from geo.formats.base import SourceField
from geo.formats.pipeline import content_keys
from geo.formats.registry import detect
from geo.formats.schema import TargetField
from geo.formats.shapefile import short_names
from geo.formats.values import convert
from service.imports.targets import target_schema
from tests import geofiles

MISSION = Area((22.0, 2.0, 30.0, 10.0), 500.0)

FORMAT_MODULES = sorted(
    f"geo.formats.{info.name}" for info in pkgutil.iter_modules(geo.formats.__path__)
)


@pytest.mark.parametrize("module", [*FORMAT_MODULES, "geo.sectors"])
def test_docstring_examples_hold(module: str) -> None:
    """The examples in the format code's docstrings are right (modules without any pass)."""
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return path


def test_unpacking_refuses_unsafe_archives(tmp_path: Path) -> None:
    limits = Limits(max_zip_members=3, max_uncompressed_bytes=10 * 1024**2)
    cases = {
        "climb.zip": ({"a/../../x.csv": b"x"}, "climbs out"),
        "abs.zip": ({"/etc/x.csv": b"x"}, "absolute"),
        "many.zip": ({f"{i}.csv": b"x" for i in range(4)}, "at most 3"),
        "nested.zip": ({"inner.zip": b"PK"}, "another archive"),
        "bomb.zip": ({"big.csv": b"0" * (20 * 1024**2)}, "zip bomb"),
    }
    for name, (members, words) in cases.items():
        with pytest.raises(FileRefused, match=words):
            archive.unpack(_zip(tmp_path / name, members), tmp_path / name[:-4], limits)
    fine = archive.unpack(_zip(tmp_path / "ok.zip", {"d/a.csv": b"a"}), tmp_path / "ok", limits)
    assert [f.relative_to(tmp_path / "ok").as_posix() for f in fine] == ["d/a.csv"]


def test_formats_are_recognised_from_their_content(tmp_path: Path) -> None:
    files = {
        "events.csv": geofiles.acled_csv(geofiles.ACLED_ROWS),
        "sites.csv": geofiles.dtm_csv(),
        "hxl.csv": geofiles.incidents_csv(hxl=True),
        "plain.csv": geofiles.incidents_csv(),
        "features.json": '{"type": "FeatureCollection", "features": []}',
        "doc.xml": '<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"></kml>',
    }
    found = {}
    for name, content in files.items():
        (tmp_path / name).write_text(content)
        found[name] = detect(tmp_path / name).name
    assert found == {
        "events.csv": "acled",
        "sites.csv": "dtm",
        "hxl.csv": "hxl",
        "plain.csv": "csv",
        "features.json": "geojson",
        "doc.xml": "kml",
    }
    (tmp_path / "notes.docx").write_bytes(b"\x00\x01binary")
    with pytest.raises(FileRefused, match="not a format") as refused:
        detect(tmp_path / "notes.docx")
    assert refused.value.reason == "unsupported"


def test_hxl_tags_match_with_attributes_in_any_order() -> None:
    assert tags.parse("#affected +ind +idps") == ("affected", frozenset({"ind", "idps"}))
    assert tags.matches("#affected+ind+idps", "#affected+idps+ind") > 0
    assert tags.matches("#affected+idps+hh", "#affected+idps+ind") == 0
    assert tags.matches("#affected+idps+ind", "#affected+idps+ind") > tags.matches(
        "#affected+idps+ind+f", "#affected+idps+ind"
    )
    schema = target_schema("idp_sites")
    fields = [
        SourceField("A", "#loc+name"),
        SourceField("B", "#affected+ind+idps"),
        SourceField("C", "#geo+lat"),
        SourceField("D", "#geo+lon"),
        SourceField("E", "#loc+type"),
    ]
    found = mapping.build(schema, fields, layer_geometry=False)
    assert found.fields == {
        "name": "A",
        "population_individuals": "B",
        "site_type": "E",
        "latitude": "C",
        "longitude": "D",
    }
    assert found.how["population_individuals"] == "hxl"


def test_a_mapping_names_what_is_wrong() -> None:
    schema = target_schema("incidents")
    fields = [SourceField(n) for n in ("fecha", "what", "grado", "lat", "lon")]
    with pytest.raises(FileRefused, match="need category, occurred_at, severity") as missing:
        mapping.build(schema, fields, layer_geometry=False)
    assert missing.value.field == "mapping"
    explicit = {"occurred_at": "fecha", "category": "what", "severity": "grado"}
    assert (
        mapping.build(schema, fields, layer_geometry=False, explicit=explicit).location == "lonlat"
    )
    with pytest.raises(FileRefused, match="'grade', which is not a field"):
        mapping.build(
            schema, fields, layer_geometry=False, explicit={**explicit, "severity": "grade"}
        )
    with pytest.raises(FileRefused, match="no longitude/latitude"):
        mapping.build(schema, fields[:3], layer_geometry=False, explicit=explicit)


def test_values_are_converted_with_one_problem_per_bad_value() -> None:
    log = ProblemLog()
    when = convert(
        pa.array(["2026-01-15", "15 January 2026", "2026-01-15T10:00:00+02:00", "soon", None]),
        TargetField("occurred_at", "datetime"),
        "date",
        1,
        log,
    )
    assert [v.isoformat() if v else None for v in when.to_pylist()] == [
        "2026-01-15T00:00:00+00:00",
        "2026-01-15T00:00:00+00:00",
        "2026-01-15T08:00:00+00:00",
        None,
        None,
    ]
    kinds = convert(
        pa.array(["Armed clash", "armed-clash", "fight"]),
        TargetField("category", "enum", choices=("armed_clash", "looting")),
        "type",
        10,
        log,
    )
    assert kinds.to_pylist() == ["armed_clash", "armed_clash", None]
    flags = convert(pa.array(["yes", "0", "maybe"]), TargetField("h", "boolean"), "h", 20, log)
    assert flags.to_pylist() == [True, False, None]
    assert [(p.row, p.field) for p in log.items] == [(4, "date"), (12, "type"), (22, "h")]
    assert "use one of: armed_clash, looting" in log.items[1].message


def test_a_problem_log_keeps_counting_past_its_limit() -> None:
    log = ProblemLog(limit=5)
    log.add_rows(np.arange(1, 101), "killed", "not a number")
    assert len(log.items) == 5 and log.errors == 100 and log.rejected_rows == 100


def test_shapefile_names_are_short_and_do_not_depend_on_order() -> None:
    names = ["population_individuals", "population_households", "population_date", "name"]
    forward = short_names(names)
    assert forward == short_names(list(reversed(names)))
    assert all(len(v) <= 10 for v in forward.values())
    assert len(set(forward.values())) == len(names)


def test_points_take_the_fast_path_and_land_where_the_slow_one_does() -> None:
    x = np.array([24.1, 25.5, 26.75])
    y = np.array([7.2, 6.5, 8.25])
    wkb = pa.array(shapely.to_wkb(shapely.points(x, y)), pa.binary())
    coords = geometry.simple_points(wkb)
    assert coords is not None
    fast = geometry.prepare_points(
        coords,
        row0=1,
        field="g",
        source_crs=None,
        transformer=None,
        mission_bbox=MISSION.bbox,
        outside_km=500,
        log=ProblemLog(),
    )
    slow = geometry.to_ewkb_hex(
        geometry.prepare(
            geometry.from_wkb(wkb),
            row0=1,
            field="g",
            source_crs=None,
            transformer=None,
            allowed=("Point",),
            mission_bbox=MISSION.bbox,
            outside_km=500,
            log=ProblemLog(),
        )
    )
    assert [h.lower() for h in fast.to_pylist()] == [h.lower() for h in slow.to_pylist()]
    z = pa.array(shapely.to_wkb(shapely.points(x, y, np.zeros(3))), pa.binary())
    assert geometry.simple_points(z) is None  # 3D: not the fast path


def test_swapped_and_projected_coordinates_are_recognised() -> None:
    log = ProblemLog()
    swapped = np.array([[7.2, 24.1]])
    geometry.prepare_points(
        swapped,
        row0=1,
        field="lat/lon",
        source_crs=None,
        transformer=None,
        mission_bbox=MISSION.bbox,
        outside_km=500,
        log=log,
    )
    projected = np.array([[612000.0, 795000.0]])
    geometry.prepare_points(
        projected,
        row0=2,
        field="g",
        source_crs=None,
        transformer=None,
        mission_bbox=MISSION.bbox,
        outside_km=500,
        log=log,
    )
    assert "swapped" in log.items[0].message
    assert "look projected" in log.items[1].message


def test_a_utm_file_is_reprojected_to_wgs84(tmp_path: Path) -> None:
    path = geofiles.write(
        tmp_path / "utm.gpkg", geofiles.table(crs="EPSG:32635"), "GPKG", crs="EPSG:32635"
    )
    opened = open_input(
        path,
        schema=target_schema("incidents"),
        options=Options(),
        limits=Limits(),
        workdir=tmp_path,
        area=MISSION,
    )
    assert opened.source_crs.label == "EPSG:32635" and opened.transformer is not None
    (batch,) = list(opened.convert(ProblemLog()))
    points = shapely.from_wkb([bytes.fromhex(h) for h in batch.column("geom").to_pylist()])
    expected = [(r["lon"], r["lat"]) for r in geofiles.INCIDENTS]
    assert np.allclose(shapely.get_coordinates(points), expected, atol=1e-7)


def test_batches_stay_within_the_batch_size(tmp_path: Path) -> None:
    rows = [dict(geofiles.INCIDENTS[i % 3], external_id=f"r{i}") for i in range(2500)]
    path = tmp_path / "many.csv"
    path.write_text(geofiles.incidents_csv(rows))
    opened = open_input(
        path,
        schema=target_schema("incidents"),
        options=Options(),
        limits=Limits(batch_rows=1000),
        workdir=tmp_path,
        area=MISSION,
    )
    sizes = [b.num_rows for b in opened.convert(ProblemLog())]
    assert sum(sizes) == 2500 and max(sizes) <= 4 * 1024 * 1024  # CSV blocks are bytes-bound
    gpkg = geofiles.write(tmp_path / "many.gpkg", geofiles.table(rows), "GPKG")
    opened = open_input(
        gpkg,
        schema=target_schema("incidents"),
        options=Options(),
        limits=Limits(batch_rows=1000),
        workdir=tmp_path,
        area=MISSION,
    )
    assert [b.num_rows for b in opened.convert(ProblemLog())] == [1000, 1000, 500]


def test_records_without_ids_get_the_same_key_for_the_same_content() -> None:
    def keys(names: list[str]) -> list[str]:
        columns = {
            "row_no": pa.array(range(len(names))),
            "name": pa.array(names),
            "external_id": pa.nulls(len(names), pa.string()),
        }
        return [str(k) for k in content_keys(columns).to_pylist()]

    first, second = keys(["a", "b"]), keys(["b", "a", "c"])
    assert first[0] == second[1] and first[1] == second[0] and second[2] not in first


def test_a_crs_is_given_by_the_caller_the_file_or_the_format() -> None:
    assert crs.resolve("32635", "EPSG:4326", None).label == "EPSG:32635"  # type: ignore[union-attr]
    assert crs.resolve(None, None, "EPSG:4326").origin == "format"  # type: ignore[union-attr]
    assert crs.resolve(None, None, None) is None
    with pytest.raises(ValueError, match="EPSG code"):
        crs.parse_crs("UTM somewhere")


def test_a_csv_in_latin_1_is_guessed_and_a_wrong_encoding_given_is_refused_early(
    tmp_path: Path,
) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes(geofiles.incidents_csv().replace("Shops", "Boutiqué").encode("latin-1"))
    with pytest.raises(FileRefused, match="leave the encoding empty") as refused:
        open_input(
            path,
            schema=target_schema("incidents"),
            options=Options(encoding="utf-8"),
            limits=Limits(),
            workdir=tmp_path,
            area=MISSION,
        )
    assert refused.value.field == "encoding"
    opened = open_input(
        path,
        schema=target_schema("incidents"),
        options=Options(),
        limits=Limits(),
        workdir=tmp_path,
        area=MISSION,
    )
    assert opened.describe()["encoding_from"] == "guessed"
    (batch,) = list(opened.convert(ProblemLog()))
    assert "Boutiqué looted" in batch.column("description").to_pylist()
