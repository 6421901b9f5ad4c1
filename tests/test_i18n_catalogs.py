"""The translation catalogs are complete: every text marked for translation in the code and the
templates (extracted now, as ``make messages`` does, so texts added anywhere are seen) has a
French and an Arabic translation, with the same ``{placeholders}``; enumerated values all have
labels. No database needed."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from service import i18n, labels

ROOT = Path(__file__).resolve().parents[1]
SERVICE = ROOT / "service"
LANGUAGES = ("fr", "ar")


def extracted() -> dict[str, str]:
    """Every text marked with ``_()``/``N_()`` in service/ (babel.cfg's rules): {text: where}."""
    with (ROOT / "babel.cfg").open() as rules:
        method_map, options_map = parse_mapping_cfg(rules)
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(SERVICE),
        method_map,
        options_map,
        keywords={"_": None, "N_": None},
        directory_filter=lambda path: (
            "node_modules" not in path and not Path(path).name.startswith((".", "_"))
        ),
    ):
        text = message if isinstance(message, str) else message[0]
        if text:
            found.setdefault(text, f"service/{filename}:{lineno}")
    return found


def catalog(language: str) -> Catalog:
    path = SERVICE / "locale" / language / "LC_MESSAGES" / "civop.po"
    with path.open("rb") as file:
        return read_po(file, locale=language)


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    found = extracted()
    assert len(found) > 200  # the extraction ran over the service, not an empty folder
    return found


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_marked_text_is_translated(texts: dict[str, str], language: str) -> None:
    """A text added with _() or N_() and not yet translated fails here: run `make messages`,
    translate the new entries of service/locale/<lang>/LC_MESSAGES/civop.po."""
    po = catalog(language)
    untranslated = [
        f"{where}: {text!r}"
        for text, where in sorted(texts.items(), key=lambda kv: kv[1])
        if not (entry := po.get(text)) or not entry.string or entry.fuzzy
    ]
    assert not untranslated, (
        f"{len(untranslated)} texts have no {language} translation (run `make messages` and "
        f"translate them in service/locale/{language}/LC_MESSAGES/civop.po):\n"
        + "\n".join(untranslated[:40])
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_their_placeholders(language: str) -> None:
    wrong = [
        f"{entry.id!r} -> {entry.string!r}"
        for entry in catalog(language)
        if entry.id
        and isinstance(entry.id, str)
        and isinstance(entry.string, str)
        and entry.string
        and placeholders(entry.id) != placeholders(entry.string)
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalog_holds_no_stale_or_fuzzy_entries(texts: dict[str, str], language: str) -> None:
    """What the code no longer says is not kept (make messages drops it)."""
    stale = [entry.id for entry in catalog(language) if entry.id and entry.id not in texts]
    assert not stale, stale[:20]


def test_every_enumerated_value_has_a_label() -> None:
    for vocabulary in labels.ENUMS:
        named = labels.LABELS[vocabulary.__name__]
        assert set(named) == {member.value for member in vocabulary}, vocabulary.__name__


def test_translations_are_used() -> None:
    with i18n.in_language("fr"):
        assert labels.label("attack_on_civilians") == "Attaque contre des civils"
        assert labels.label("planned_camp", "SiteType") == "Camp planifié"
        assert i18n._("{count} incidents in view", count=3) == "3 incidents visibles"
    with i18n.in_language("ar"):
        assert labels.label("attack_on_civilians") == "هجوم على المدنيين"
        assert i18n.is_rtl()
    assert labels.label("attack_on_civilians") == "Attack on civilians"


def test_babel_cfg_reads_python_and_templates() -> None:
    rules = (ROOT / "babel.cfg").read_text()
    assert re.search(r"^\[python: \*\*\.py\]", rules, re.M)
    assert re.search(r"^\[jinja2: \*\*/templates/\*\*\.html\]", rules, re.M)
