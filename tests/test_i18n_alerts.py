"""Alerts in every language: the title and description said once by the rule and kept in each
language, given to each reader in theirs; CAP with one <info> block per language the mission
publishes in, valid CAP 1.2, with the local time of the alert named."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import xmlschema
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from service.config import get_settings
from tests import factories
from tests.test_alerts import KM, XSD, Headers, Make, evaluate, near_rule

# A place of its own, away from the other alert tests' records.
X, Y = 27.8, 3.8


@pytest.fixture
def published_in_three_languages() -> Iterator[None]:
    settings = get_settings()
    before = settings.alert_languages, settings.time_zone
    settings.alert_languages = ["en", "fr", "ar"]
    settings.time_zone = "Africa/Bangui"
    yield
    settings.alert_languages, settings.time_zone = before


async def test_an_alert_reads_in_each_readers_language_and_cap_carries_each(
    client: AsyncClient,
    headers: Headers,
    make: Make,
    session: AsyncSession,
    published_in_three_languages: None,
) -> None:
    await near_rule(client, headers, categories=["attack_on_civilians"])
    await make(
        "idp_sites", geometry=factories.point(X, Y), classification="public", name="Bambari camp"
    )
    incident = await make(
        "incidents",
        geometry=factories.point(X + 3 * KM, Y),
        severity=4,
        category="attack_on_civilians",
        classification="public",
        occurred_at="2026-03-01T13:05:00Z",
    )
    (raised,) = await evaluate(session, incidents=[incident["id"]])
    url = f"/api/alerts/{raised.alert_id}"

    english = (await client.get(url, headers=headers("admin"))).json()["properties"]
    assert english["title"].startswith("Severity 4 attack on civilians 2.99 km from Bambari camp")
    french = (await client.get(url + "?lang=fr", headers=headers("admin"))).json()["properties"]
    assert french["title"].startswith(
        "Gravité 4 : attaque contre des civils à 2,99 km de Bambari camp"
    )
    # The incident's time in the mission's local time, written the French way, zone named.
    assert "1 mars 2026, 14:05 (Africa/Bangui, UTC+01:00)" in french["description"]
    arabic = (await client.get(url, headers={**headers("admin"), "Accept-Language": "ar"})).json()[
        "properties"
    ]
    assert "هجوم على المدنيين" in arabic["title"]
    listed = await client.get("/api/alerts", params={"lang": "fr"}, headers=headers("admin"))
    assert french["title"] in listed.text

    cap = await client.get(url + "/cap", headers=headers("admin"))
    assert cap.status_code == 200
    schema = xmlschema.XMLSchema(str(XSD))
    schema.validate(cap.text)
    infos = schema.to_dict(cap.text)["info"]
    assert [info["language"] for info in infos] == ["en", "fr", "ar"]
    by_language = {info["language"]: info for info in infos}
    assert by_language["en"]["event"] == "Incident near an IDP site"
    assert by_language["fr"]["event"] == "Incident près d'un site de PDI"
    assert by_language["fr"]["headline"] == french["title"]
    assert by_language["ar"]["headline"] == arabic["title"]
    assert "Émise le " in by_language["fr"]["description"]
    assert "(Africa/Bangui, UTC+01:00)" in by_language["fr"]["description"]
    # What does not depend on the language is the same in each block.
    for info in infos:
        assert info["severity"] == "Severe" and info["area"] == infos[0]["area"]
