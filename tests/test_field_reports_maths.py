"""``geo.field_reports`` without the service: reading each server's submission, mapping its
fields, and how alike two reports are."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from geo.field_reports import (
    Report,
    SubmissionProblem,
    likeness,
    location_of,
    map_fields,
    read_submission,
)

T = datetime(2026, 12, 1, 8, tzinfo=UTC)


def test_each_servers_submission_reads_the_same() -> None:
    kobo = read_submission(
        {
            "incident/category": "looting",
            "incident/location": "5.31 25.32 512 4.5",
            "meta/instanceID": "uuid:abc",
            "_uuid": "abc",
            "_xform_id_string": "aZx3",
        }
    )
    odk_json = read_submission(
        {
            "type": "submission.create",
            "id": "uuid:abc",
            "data": {
                "incident": {
                    "category": "looting",
                    "location": {"type": "Point", "coordinates": [25.32, 5.31, 512]},
                },
                "meta": {"instanceID": "uuid:abc"},
            },
        }
    )
    odk_xml = read_submission(
        {
            "type": "submission.create",
            "id": "uuid:abc",
            "data": {
                "xml": '<data id="aZx3"><incident><category>looting</category>'
                "<location>5.31 25.32 512 4.5</location></incident>"
                "<meta><instanceID>uuid:abc</instanceID></meta></data>"
            },
        }
    )
    for submission in (kobo, odk_json, odk_xml):
        assert submission.submission_id == "uuid:abc"
        assert map_fields(submission.fields, {})["category"] == "looting"
        assert location_of(submission.fields) == pytest.approx((25.32, 5.31))
    assert (kobo.server, odk_xml.server) == ("kobo", "odk")
    assert kobo.form_id == odk_xml.form_id == "aZx3"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ([1, 2], "body"),
        ({"incident/category": "looting"}, "meta/instanceID"),
        ({"type": "submission.update", "id": "uuid:1", "data": {}}, "type"),
        ({"type": "submission.create", "id": "uuid:1", "data": {"xml": "<data>"}}, "data.xml"),
        # An entity in the XML is refused, never expanded.
        (
            {
                "type": "submission.create",
                "id": "uuid:1",
                "data": {"xml": '<!DOCTYPE d [<!ENTITY e "x">]><data>&e;</data>'},
            },
            "data.xml",
        ),
    ],
)
def test_what_is_no_submission_is_refused_saying_where(payload: object, field: str) -> None:
    with pytest.raises(SubmissionProblem) as refused:
        read_submission(payload)
    assert refused.value.field == field


def test_a_mapping_names_translates_and_fixes_values() -> None:
    fields = {"g/type_incident": "VBG", "g/quand": "2026-12-02T18:00:00Z", "g/lieu": "5 25 0 1"}
    mapping = {
        "category": {"column": "type_incident", "values": {"vbg": "sexual_violence"}},
        "occurred_at": "quand",
        "severity": {"value": 4},
    }
    mapped = map_fields(fields, mapping)
    assert mapped == {
        "category": "sexual_violence",
        "occurred_at": "2026-12-02T18:00:00Z",
        "severity": 4,
    }
    assert location_of(fields, "lieu") == (25.0, 5.0)
    # No time in the form: KoboToolbox's reception time, which it gives in UTC without a zone.
    assert map_fields({"_submission_time": "2026-12-01T08:03:11"}, {})["occurred_at"] == (
        "2026-12-01T08:03:11Z"
    )


def test_one_event_told_twice_scores_above_two_events_close_by() -> None:
    told = Report("looting", 25.0, 5.0, T, "Armed men looted the market at dawn")
    retold = Report("looting", 25.01, 5.0, T + timedelta(hours=2), "market looted by armed men")
    other = Report("looting", 25.05, 5.02, T + timedelta(hours=20), "Shop of a trader robbed")
    same, different = likeness(told, retold), likeness(told, other)
    assert same.score > 0.8 > 0.55 > different.score
    codes = [r["code"] for r in same.reasons]
    assert codes == ["same_category", "distance_km", "hours_apart", "text_similarity"]
    assert dict((r["code"], r["value"]) for r in same.reasons)["distance_km"] == pytest.approx(
        1.11, abs=0.01
    )


def test_beyond_the_search_bounds_nothing_is_alike_and_a_missing_text_costs_nothing() -> None:
    told = Report("armed_clash", 25.0, 5.0, T, None)
    far = Report("armed_clash", 25.2, 5.0, T, None)  # 22 km
    late = Report("armed_clash", 25.0, 5.0, T + timedelta(days=4), None)
    assert likeness(told, far).score == 0 and likeness(told, late).score == 0
    # Without texts the other parts carry the whole weight: the same place and time is 1.
    assert likeness(told, Report("armed_clash", 25.0, 5.0, T, None)).score == pytest.approx(1.0)
