"""The language of what the API says: the user's own choice, else ``lang=``, else the
browser's ``Accept-Language``, else English; error messages translated, codes unchanged;
bare days in ``datetime=`` are the mission's local days."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from httpx import AsyncClient

from service.config import get_settings
from service.core.params import parse_datetime

NOT_FOUND = "/api/idp_sites/00000000-0000-0000-0000-000000000000"


async def test_error_messages_follow_the_browser_and_keep_their_code(
    client: AsyncClient, headers: Callable[[str], dict[str, str]]
) -> None:
    english = await client.get(NOT_FOUND, headers=headers("analyst"))
    french = await client.get(
        NOT_FOUND, headers={**headers("analyst"), "Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"}
    )
    arabic = await client.get(NOT_FOUND + "?lang=ar", headers=headers("analyst"))
    assert english.status_code == french.status_code == arabic.status_code == 404
    assert english.json() == {"detail": "no such record in idp_sites", "code": "not_found"}
    assert french.json() == {"detail": "fiche introuvable dans idp_sites", "code": "not_found"}
    assert arabic.json()["code"] == "not_found"
    assert arabic.json()["detail"] == "السجل غير موجود في idp_sites"
    assert french.headers["content-language"] == "fr"
    assert "Accept-Language" in french.headers["vary"]


async def test_signed_out_refusal_in_the_browser_language(client: AsyncClient) -> None:
    answer = await client.get("/api/idp_sites", headers={"Accept-Language": "ar"})
    assert answer.status_code == 401
    assert answer.json()["detail"] == "بيانات الاعتماد مفقودة أو غير صالحة"
    assert answer.json()["code"] == "unauthorized"


async def test_a_user_picks_a_language_that_wins_over_the_browser(
    client: AsyncClient, headers: Callable[[str], dict[str, str]]
) -> None:
    analyst = headers("analyst")
    me = await client.get("/auth/me", headers=analyst)
    assert me.json()["language"] is None
    assert me.json()["languages"] == ["en", "ar", "fr"]

    chosen = await client.patch("/auth/me", json={"language": "fr"}, headers=analyst)
    assert chosen.status_code == 200, chosen.text
    assert chosen.json()["language"] == "fr"

    # The browser asks for Arabic, the address for English: the user's choice wins.
    refused = await client.get(NOT_FOUND + "?lang=en", headers={**analyst, "Accept-Language": "ar"})
    assert refused.json()["detail"] == "fiche introuvable dans idp_sites"

    unknown = await client.patch("/auth/me", json={"language": "tlh"}, headers=analyst)
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["loc"] == ["body", "language"]
    assert "civop ne parle pas 'tlh'" in unknown.json()["detail"][0]["msg"]

    back = await client.patch("/auth/me", json={"language": None}, headers=analyst)
    assert back.json()["language"] is None
    again = await client.get(NOT_FOUND, headers={**analyst, "Accept-Language": "ar"})
    assert again.json()["detail"] == "السجل غير موجود في idp_sites"


def test_a_bare_day_is_a_local_day_of_the_mission(monkeypatch: object) -> None:
    settings = get_settings()
    before = settings.time_zone
    settings.time_zone = "Africa/Bangui"  # UTC+1, no summer time
    try:
        interval = parse_datetime("2026-12-01/2026-12-07")
    finally:
        settings.time_zone = before
    assert interval is not None
    start, end = interval
    assert start == datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    assert end is not None and end.isoformat() == "2026-12-07T22:59:59.999999+00:00"


async def test_the_time_chart_counts_the_missions_local_days(
    client: AsyncClient,
    headers: Callable[[str], dict[str, str]],
    make: Callable[..., Any],
) -> None:
    """An incident at 23:30 UTC happened at 00:30 in Bangui: it counts on the next day."""
    from tests import factories

    await make(
        "incidents",
        geometry=factories.point(28.7, 8.7),
        occurred_at="2026-02-10T23:30:00Z",
        classification="public",
    )
    query = {"interval": "day", "bbox": "28.6,8.6,28.8,8.8", "datetime": "2026-02-01/2026-02-28"}
    settings = get_settings()
    before = settings.time_zone
    try:
        in_utc = await client.get("/api/incidents/timeline", params=query, headers=headers("admin"))
        settings.time_zone = "Africa/Bangui"
        in_bangui = await client.get(
            "/api/incidents/timeline", params=query, headers=headers("admin")
        )
    finally:
        settings.time_zone = before
    assert [c["period"] for c in in_utc.json()["counts"]] == ["2026-02-10"]
    assert [c["period"] for c in in_bangui.json()["counts"]] == ["2026-02-11"]


async def test_an_export_in_french_adds_labels_beside_the_codes(
    client: AsyncClient,
    headers: Callable[[str], dict[str, str]],
    make: Callable[..., Any],
) -> None:
    import csv
    import io

    from tests import factories

    await make(
        "incidents",
        geometry=factories.point(28.9, 8.9),
        category="attack_on_civilians",
        classification="public",
    )
    query = {"format": "csv", "bbox": "28.85,8.85,28.95,8.95"}
    french = await client.get(
        "/api/incidents/export", params={**query, "lang": "fr"}, headers=headers("admin")
    )
    assert french.status_code == 200, french.text
    rows = list(csv.DictReader(io.StringIO(french.text)))
    data = [row for row in rows if row["category"] == "attack_on_civilians"]
    assert data and data[0]["category_label"] == "Attaque contre des civils"
    # Without lang= (whatever the browser's language) the file is as before: codes only.
    plain = await client.get(
        "/api/incidents/export",
        params=query,
        headers={**headers("admin"), "Accept-Language": "fr"},
    )
    assert "category_label" not in plain.text.splitlines()[0]
    refused = await client.get(
        "/api/incidents/export", params={**query, "lang": "xx"}, headers=headers("admin")
    )
    assert refused.status_code == 422
