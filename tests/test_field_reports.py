"""Field reports through the API: the shipped XLSForm, submissions as KoboToolbox's REST services
and ODK Central's webhooks post them, per-form tokens, retried deliveries, the reported state,
the category floors, and who sees a partner's submission."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient
from openpyxl import load_workbook
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from service.field_reports import xlsform
from tests.test_requests import PartnerOf, partner_of

__all__ = ["partner_of"]  # fixtures

Headers = Callable[[str], dict[str, str]]
Make = Callable[..., Awaitable[dict[str, Any]]]
XLSFORM = Path(__file__).resolve().parents[1] / "docs" / "field-reports" / "incident-report.xlsx"


def survey_paths() -> dict[str, str]:
    """Question name -> its path in a submission (``group/name``), read from the shipped file."""
    book = load_workbook(XLSFORM, read_only=True)
    rows = list(book["survey"].iter_rows(values_only=True))
    header = rows[0]
    kind, name = header.index("type"), header.index("name")
    paths: dict[str, str] = {}
    groups: list[str] = []
    for row in rows[1:]:
        if row[kind] == "begin_group":
            groups.append(str(row[name]))
        elif row[kind] == "end_group":
            groups.pop()
        elif row[name]:
            paths[str(row[name])] = "/".join([*groups, str(row[name])])
    return paths


def kobo_submission(
    answers: dict[str, Any], instance: str | None = None, form_id: str = xlsform.FORM_ID
) -> dict[str, Any]:
    """A submission as KoboToolbox's REST service posts it: flat, groups in the names;
    ``_xform_id_string`` is the form's id in KoboToolbox (its asset uid), which civop's form
    is registered under."""
    paths = survey_paths()
    instance = instance or f"uuid:{uuid.uuid4()}"
    body: dict[str, Any] = {paths[name]: value for name, value in answers.items()}
    lat, lon = (float(v) for v in answers["location"].split()[:2])
    body.update(
        {
            "_id": 48213,
            "formhub/uuid": "0e7b6c2a4d1f4f0b9f1f0b9c2d3e4f50",
            "start": "2026-12-01T08:55:00.000+01:00",
            "end": "2026-12-01T09:02:00.000+01:00",
            "__version__": "vQ7xE5bR3kLmN9",
            "meta/instanceID": instance,
            "_xform_id_string": form_id,
            "_uuid": instance.removeprefix("uuid:"),
            "_attachments": [],
            "_status": "submitted_via_web",
            "_geolocation": [lat, lon],
            "_submission_time": "2026-12-01T08:03:11",
            "_tags": [],
            "_notes": [],
            "_validation_status": {},
            "_submitted_by": None,
        }
    )
    return body


def odk_webhook_xml(answers: dict[str, Any], instance: str) -> dict[str, Any]:
    """An ODK Central webhook event whose data is the submission's XML."""
    paths = survey_paths()
    groups: dict[str, list[str]] = {}
    for name, value in answers.items():
        group, _, leaf = paths[name].rpartition("/")
        groups.setdefault(group, []).append(f"<{leaf}>{value}</{leaf}>")
    inner = "".join(f"<{g}>{''.join(v)}</{g}>" for g, v in groups.items())
    xml = (
        f'<data xmlns:jr="http://openrosa.org/javarosa" id="{xlsform.FORM_ID}" '
        f'version="{xlsform.VERSION}">{inner}<meta><instanceID>{instance}</instanceID></meta></data>'
    )
    return {"type": "submission.create", "id": instance, "data": {"xml": xml}}


def odk_webhook_json(answers: dict[str, Any], instance: str) -> dict[str, Any]:
    """An ODK Central webhook event whose data is the submission as JSON (OData's shape:
    groups nested, geopoints GeoJSON)."""
    paths = survey_paths()
    data: dict[str, Any] = {"__id": instance, "meta": {"instanceID": instance}}
    for name, value in answers.items():
        group, _, leaf = paths[name].rpartition("/")
        if name == "location":
            lat, lon = (float(v) for v in value.split()[:2])
            value = {"type": "Point", "coordinates": [lon, lat, 0.0]}
        data.setdefault(group, {})[leaf] = value
    return {"type": "submission.create", "id": instance, "xmlFormId": xlsform.FORM_ID, "data": data}


ANSWERS = {
    "category": "looting",
    "occurred_at": "2026-12-01T07:30:00.000+01:00",
    "location": "5.31 25.32 512 4.5",
    "severity": "3",
    "killed": "0",
    "injured": "2",
    "description": "Armed men looted the market stalls at dawn",
    "source": "market committee",
    "source_reliability": "B",
    "source_credibility": "2",
}


@pytest.fixture
async def form(client: AsyncClient, headers: Headers) -> dict[str, Any]:
    """The shipped form, registered by an admin with an empty mapping."""
    response = await client.post(
        "/api/intake-forms",
        json={"form_id": xlsform.FORM_ID, "title": "Patrol incident reports"},
        headers=headers("admin"),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def as_form(form: dict[str, Any]) -> dict[str, str]:
    return {"X-Civop-Form-Token": form["token"]}


async def test_the_shipped_xlsform_has_a_question_for_each_field_an_incident_needs() -> None:
    paths = survey_paths()
    for needed in ("category", "occurred_at", "location", "severity", "description"):
        assert needed in paths
    book = load_workbook(XLSFORM, read_only=True)
    settings = list(book["settings"].iter_rows(values_only=True))
    assert dict(zip(settings[0], settings[1], strict=True))["form_id"] == xlsform.FORM_ID
    listed = {row[1] for row in book["choices"].iter_rows(values_only=True) if row[0] == "category"}
    assert "sexual_violence" in listed and "looting" in listed


async def test_a_kobo_submission_lands_as_a_reported_incident(
    client: AsyncClient, headers: Headers, form: dict[str, Any]
) -> None:
    url = f"/api/intake/{xlsform.FORM_ID}"
    submission = kobo_submission(ANSWERS)
    response = await client.post(url, json=submission, headers=as_form(form))
    assert response.status_code == 201, response.text
    incident_id = response.json()["incident_id"]
    got = await client.get(f"/api/incidents/{incident_id}", headers=headers("analyst"))
    assert got.status_code == 200, got.text
    incident = got.json()
    assert incident["properties"]["verification_state"] == "reported"
    assert incident["properties"]["category"] == "looting"
    assert incident["properties"]["injured"] == 2
    assert incident["properties"]["source_reliability"] == "B"
    assert incident["properties"]["classification"] == "mission"
    assert incident["geometry"]["coordinates"] == pytest.approx([25.32, 5.31])
    assert "verify" in incident["actions"]


async def test_a_retried_delivery_creates_nothing_twice(
    client: AsyncClient, headers: Headers, form: dict[str, Any], session: AsyncSession
) -> None:
    url = f"/api/intake/{xlsform.FORM_ID}"
    submission = kobo_submission(ANSWERS)
    first = await client.post(url, json=submission, headers=as_form(form))
    # KoboToolbox retries after 60, 600 and 6,000 s when it hears no answer.
    again = [await client.post(url, json=submission, headers=as_form(form)) for _ in range(3)]
    assert first.status_code == 201
    assert [r.status_code for r in again] == [200, 200, 200]
    assert {r.json()["incident_id"] for r in again} == {first.json()["incident_id"]}
    stored = await session.scalar(
        text("SELECT count(*) FROM incidents WHERE external_id = :id"),
        {"id": submission["meta/instanceID"]},
    )
    assert stored == 1


@pytest.mark.parametrize("shape", ["xml", "json"])
async def test_an_odk_central_webhook_lands_as_a_reported_incident(
    client: AsyncClient, headers: Headers, form: dict[str, Any], shape: str
) -> None:
    instance = f"uuid:{uuid.uuid4()}"
    event = (odk_webhook_xml if shape == "xml" else odk_webhook_json)(ANSWERS, instance)
    response = await client.post(
        f"/api/intake/{xlsform.FORM_ID}",
        json=event,
        headers={"Authorization": f"Bearer {form['token']}"},
    )
    assert response.status_code == 201, response.text
    incident = (
        await client.get(
            f"/api/incidents/{response.json()['incident_id']}", headers=headers("analyst")
        )
    ).json()
    assert incident["properties"]["verification_state"] == "reported"
    assert incident["properties"]["external_id"] == instance
    assert incident["properties"]["origin"] == "odk"
    assert incident["geometry"]["coordinates"] == pytest.approx([25.32, 5.31])


async def test_a_form_is_answered_only_with_its_own_token(
    client: AsyncClient, headers: Headers, form: dict[str, Any]
) -> None:
    url = f"/api/intake/{xlsform.FORM_ID}"
    submission = kobo_submission(ANSWERS)
    assert (await client.post(url, json=submission)).status_code == 401
    wrong = {"X-Civop-Form-Token": "not-the-token"}
    assert (await client.post(url, json=submission, headers=wrong)).status_code == 401
    # A user's own sign-in is not a form's token.
    assert (await client.post(url, json=submission, headers=headers("admin"))).status_code == 401
    unknown = await client.post("/api/intake/no-such-form", json=submission, headers=as_form(form))
    assert unknown.status_code == 401
    # Basic, as KoboToolbox's REST services send it, with the token as password.
    import base64

    basic = base64.b64encode(f"kobo:{form['token']}".encode()).decode()
    ok = await client.post(url, json=submission, headers={"Authorization": f"Basic {basic}"})
    assert ok.status_code == 201, ok.text
    # A new token replaces the old one at once; a disabled form takes nothing.
    rotated = await client.post(f"/api/intake-forms/{form['id']}/token", headers=headers("admin"))
    other = kobo_submission(ANSWERS)
    assert (await client.post(url, json=other, headers=as_form(form))).status_code == 401
    fresh = {"X-Civop-Form-Token": rotated.json()["token"]}
    assert (await client.post(url, json=other, headers=fresh)).status_code == 201
    await client.post(f"/api/intake-forms/{form['id']}/disable", headers=headers("admin"))
    late = kobo_submission(ANSWERS)
    assert (await client.post(url, json=late, headers=fresh)).status_code == 401


async def test_only_admins_manage_forms_and_no_answer_shows_a_token_hash(
    client: AsyncClient, headers: Headers, form: dict[str, Any]
) -> None:
    for user in ("officer", "analyst", "partner"):
        refused = await client.post(
            "/api/intake-forms", json={"form_id": "x", "title": "x"}, headers=headers(user)
        )
        assert refused.status_code == 403, user
        assert (await client.get("/api/intake-forms", headers=headers(user))).status_code == 403
    listed = (await client.get("/api/intake-forms", headers=headers("admin"))).json()
    assert [f["form_id"] for f in listed] == [xlsform.FORM_ID]
    assert "token_hash" not in listed[0] and "token" not in listed[0]


async def test_a_submission_the_form_cannot_fill_says_which_field(
    client: AsyncClient, form: dict[str, Any]
) -> None:
    url = f"/api/intake/{xlsform.FORM_ID}"
    bad = kobo_submission({**ANSWERS, "category": "burglary"})
    response = await client.post(url, json=bad, headers=as_form(form))
    assert response.status_code == 422
    assert "category" in str(response.json()["detail"])
    no_id = {k: v for k, v in bad.items() if k not in ("meta/instanceID", "_uuid")}
    response = await client.post(url, json=no_id, headers=as_form(form))
    assert response.status_code == 422
    assert "instanceID" in str(response.json()["detail"])


async def test_a_mapping_translates_a_partners_form_and_floors_still_apply(
    client: AsyncClient, headers: Headers
) -> None:
    mapping = {
        "category": {"column": "type_incident", "values": {"VBG": "sexual_violence"}},
        "occurred_at": "date_incident",
        "location": "lieu",
        "severity": {"value": 4},
    }
    created = await client.post(
        "/api/intake-forms",
        json={
            "form_id": "ngo_alertes",
            "title": "Alertes communautaires",
            "default_classification": "public",
            "field_mapping": mapping,
        },
        headers=headers("admin"),
    )
    assert created.status_code == 201, created.text
    submission = {
        "alerte/type_incident": "vbg",
        "alerte/date_incident": "2026-12-02T18:00:00+01:00",
        "alerte/lieu": "5.2 25.2 0 10",
        "meta/instanceID": f"uuid:{uuid.uuid4()}",
    }
    response = await client.post(
        "/api/intake/ngo_alertes",
        json=submission,
        headers={"X-Civop-Form-Token": created.json()["token"]},
    )
    assert response.status_code == 201, response.text
    incident_id = response.json()["incident_id"]
    seen = await client.get(f"/api/incidents/{incident_id}", headers=headers("analyst-cleared"))
    properties = seen.json()["properties"]
    assert (properties["category"], properties["severity"]) == ("sexual_violence", 4)
    # The form says public; sexual violence is restricted at least, whatever the form says.
    assert properties["classification"] == "restricted"
    hidden = await client.get(f"/api/incidents/{incident_id}", headers=headers("analyst"))
    assert hidden.status_code == 404


async def two_ngos_and_a_form(
    client: AsyncClient, headers: Headers, make: Make
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Two NGOs, the first owning the public form ``kalembe_alerts``: the NGOs and the form as
    created (with its token)."""
    ngo = await make("actors", name="Kalembe Relief", classification="public")
    other_ngo = await make("actors", name="Other Relief", classification="public")
    created = await client.post(
        "/api/intake-forms",
        json={
            "form_id": "kalembe_alerts",
            "title": "Kalembe community alerts",
            # Even a public form: a report not yet verified stays inside the mission.
            "default_classification": "public",
            "owner_actor_id": ngo["id"],
        },
        headers=headers("admin"),
    )
    assert created.status_code == 201, created.text
    return ngo, other_ngo, dict(created.json())


async def test_a_partners_submission_is_theirs_and_no_other_partners(
    client: AsyncClient, headers: Headers, make: Make, partner_of: PartnerOf
) -> None:
    ngo, other_ngo, created = await two_ngos_and_a_form(client, headers, make)
    token = {"X-Civop-Form-Token": created["token"]}
    response = await client.post(
        "/api/intake/kalembe_alerts",
        json=kobo_submission(ANSWERS, form_id="kalembe_alerts"),
        headers=token,
    )
    assert response.status_code == 201, response.text
    url = f"/api/incidents/{response.json()['incident_id']}"
    own = await partner_of(ngo["id"])
    other = await partner_of(other_ngo["id"])
    mine = await client.get(url, headers=own)
    assert mine.status_code == 200
    assert mine.json()["properties"]["description"] == ANSWERS["description"]
    assert (await client.get(url, headers=other)).status_code == 404
    assert (await client.get(url, headers=headers("partner"))).status_code == 404
    listed = await client.get("/api/incidents?limit=100", headers=other)
    assert url.rsplit("/", 1)[1] not in {f["id"] for f in listed.json()["features"]}
    # The submission's own record is read with the incident: its raw payload is staff's.
    assert (await client.get(url, headers=headers("analyst"))).status_code == 200


def _sheets(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    book = load_workbook(path, read_only=True)
    return {name: list(book[name].iter_rows(values_only=True)) for name in book.sheetnames}


async def test_the_command_line_writes_the_shipped_form(tmp_path: Path) -> None:
    from tests.test_cli import _civop

    written = tmp_path / "incident-report.xlsx"
    done = _civop("intake-forms", "xlsform", str(written))
    assert done.returncode == 0, done.stderr
    assert _sheets(written) == _sheets(XLSFORM)


async def test_a_wrong_mapping_gets_the_same_answer_on_both_doors(
    client: AsyncClient, headers: Headers
) -> None:
    from tests.test_cli import _civop

    mapping = '{"casualties": "killed"}'
    answer = await client.post(
        "/api/intake-forms",
        json={"form_id": "x", "title": "x", "field_mapping": {"casualties": "killed"}},
        headers=headers("admin"),
    )
    assert answer.status_code == 422
    message = answer.json()["detail"][0]["msg"]
    assert "'casualties' is no incident field a form fills" in message
    done = _civop("intake-forms", "add", "x", "--title", "x", "--mapping", mapping)
    assert done.returncode == 1
    assert message in done.stderr
