"""The command line is a thin door onto the service: the same checks and the same answers as
the HTTP API, and the same place for its files."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from service.access.policy import SYSTEM
from service.collections.registry import COLLECTIONS
from service.config import get_settings
from service.core.params import ListQuery
from service.exports import service as exports

Headers = Callable[[str], dict[str, str]]
FEATURES = '{"type": "FeatureCollection", "features": []}'


def _civop(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("classification", "secret", "unknown classification 'secret'; use public, mission"),
        ("mapping", "{not json", "mapping is not JSON"),
    ],
)
async def test_a_wrong_import_value_gets_the_same_answer_on_both_doors(
    client: AsyncClient, headers: Headers, tmp_path: Path, field: str, value: str, message: str
) -> None:
    """The command line raised a bare ValueError (a traceback) for a classification the API
    answered with 422."""
    upload = tmp_path / "incidents.geojson"
    upload.write_text(FEATURES)
    answer = await client.post(
        "/api/imports",
        data={"collection": "incidents", field: value},
        files={"file": (upload.name, upload.read_bytes(), "application/geo+json")},
        headers=headers("officer"),
    )
    assert answer.status_code == 422, answer.text
    (problem,) = answer.json()["detail"]
    assert problem["loc"] == ["body", field] and message in problem["msg"]

    done = _civop("import", str(upload), "--into", "incidents", f"--{field}", value)
    assert done.returncode == 1, done.stderr
    assert f"error: {problem['msg']}" in done.stderr
    assert f"(field: {field})" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unknown_collection_is_named_with_the_known_ones(tmp_path: Path) -> None:
    done = _civop("export", "camps", "--output", str(tmp_path / "x.geojson"))
    assert done.returncode == 1
    assert "error: unknown collection 'camps'; use one of: sectors, actors" in done.stderr


async def test_an_export_is_written_in_the_import_directory_wherever_it_is_asked_for(
    session: AsyncSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command line wrote its exports to the system's temporary folder, not to
    ``CIVOP_IMPORT_DIR`` (a volume sized for files) as the API does."""
    monkeypatch.setenv("CIVOP_IMPORT_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        exported = await exports.export(
            session, COLLECTIONS["incidents"], SYSTEM, ListQuery(), "geojson"
        )
        try:
            assert exported.path.is_relative_to(tmp_path)
        finally:
            exported.discard()
    finally:
        monkeypatch.delenv("CIVOP_IMPORT_DIR")
        get_settings.cache_clear()


def test_every_command_group_answers_its_help() -> None:
    for group in ([], ["db"], ["user"], ["apikey"], ["report"]):
        done = _civop(*group, "--help")
        assert done.returncode == 0, done.stderr
    assert "demo-accounts" in _civop("user", "--help").stdout
    assert "civ-oes" in _civop("report", "--help").stdout


# --- the command line in its user's language ----------------------------------------------------


def _civop_speaking(locale: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``civop ...`` run from a shell whose locale is ``locale`` (LANG=fr_FR.UTF-8...)."""
    env = {k: v for k, v in os.environ.items() if k not in LOCALE_VARIABLES}
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        env={**env, **locale, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


LOCALE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")
FRENCH = {"LANG": "fr_FR.UTF-8"}


def test_a_user_is_created_in_french_with_the_prompts_in_french(database: str) -> None:
    """Typer's runner on the real command, against the test database: the password is asked
    for in French, and the answer is French."""
    from typer.testing import CliRunner

    from service.cli import app
    from service.i18n import LANGUAGE

    username = f"cli-fr-{secrets.token_hex(3)}"
    done = CliRunner().invoke(
        app,
        ["user", "add", username, "--role", "analyst"],
        input="a long enough password\na long enough password\n",
        env={"LANGUAGE": None, "LC_ALL": None, "LC_MESSAGES": None, **FRENCH},
    )
    assert done.exit_code == 0, done.output
    assert "Mot de passe: " in done.output
    assert "Répéter pour confirmer: " in done.output
    assert re.search(rf"utilisateur {username} \(analyst\) créé : [0-9a-f-]{{36}}", done.output)
    assert "created" not in done.output
    # The process goes on in its own language.
    assert LANGUAGE.get() == "en"

    again = _civop_speaking(
        FRENCH, "user", "add", username, "--role", "analyst", "--password", "x" * 12
    )
    assert again.returncode == 1
    assert f"erreur : l'utilisateur '{username}' existe déjà" in again.stderr, again.stderr


def test_errors_and_help_are_in_the_shells_language() -> None:
    wrong = _civop_speaking(FRENCH, "export", "camps")
    assert wrong.returncode == 1
    assert "erreur : collection inconnue 'camps' ; utilisez l'une de : sectors" in wrong.stderr
    assert "unknown collection" not in wrong.stderr
    wrong_format = _civop_speaking(FRENCH, "report", "civ-oes", "--format", "docx")
    assert wrong_format.returncode == 1
    assert "erreur : --format vaut pdf ou html, pas 'docx'" in wrong_format.stderr

    helped = _civop_speaking(FRENCH, "user", "add", "--help")
    assert helped.returncode == 0, helped.stderr
    assert "Créer un utilisateur." in helped.stdout
    assert "Habilité pour les fiches restreintes." in helped.stdout
    assert "Create a user." not in helped.stdout
    listed = _civop_speaking(FRENCH, "--help")
    assert "Utilisateurs" in listed.stdout and "Users" not in listed.stdout

    # LANGUAGE comes first, as gettext reads it; then --lang over the shell's.
    arabic = _civop_speaking({**FRENCH, "LANGUAGE": "ar:fr"}, "user", "--help")
    assert "المستخدمون" in arabic.stdout, arabic.stdout
    chosen = _civop_speaking(FRENCH, "--lang", "ar", "report", "civ-oes", "--format", "docx")
    assert chosen.returncode == 1 and "خطأ:" in chosen.stderr, chosen.stderr
    english = _civop_speaking({"LANG": "C.UTF-8"}, "report", "civ-oes", "--format", "docx")
    assert "error: --format is pdf or html, not 'docx'" in english.stderr
    unknown = _civop_speaking(FRENCH, "--lang", "xx", "user", "list")
    assert unknown.returncode == 2
    assert "Valeur invalide pour '--lang' : civop parle en, ar, fr" in unknown.stderr


def test_typers_own_words_are_in_the_shells_language() -> None:
    """What Typer writes itself around our texts: the usage line, the panels of the help, the
    help of --help, the error panel and its hint, a missing argument or option."""
    helped = _civop_speaking(FRENCH, "--help")
    assert helped.returncode == 0, helped.stderr
    assert "Utilisation : " in helped.stdout and "Usage" not in helped.stdout
    assert "─ Commandes ─" in helped.stdout and "─ Commands ─" not in helped.stdout
    assert "Afficher ce message et quitter." in helped.stdout
    assert "Show this message" not in helped.stdout
    user_add = _civop_speaking(FRENCH, "user", "add", "--help")
    assert "[obligatoire]" in user_add.stdout and "[required]" not in user_add.stdout

    missing = _civop_speaking(FRENCH, "user", "add")
    assert missing.returncode == 2
    assert "─ Erreur ─" in missing.stderr, missing.stderr
    assert "Argument manquant 'username'." in missing.stderr
    assert "Essayez 'python -m service.cli user add --help' pour obtenir de l'aide." in (
        missing.stderr
    )
    assert "Missing" not in missing.stderr and "Try " not in missing.stderr
    no_role = _civop_speaking(FRENCH, "user", "add", "amina")
    assert "Option manquante '--role'. Choisissez parmi :" in no_role.stderr, no_role.stderr
    assert "Choose from" not in no_role.stderr
    no_command = _civop_speaking(FRENCH, "user", "nope")
    assert "Commande inconnue : 'nope'." in no_command.stderr, no_command.stderr

    arabic = _civop_speaking(FRENCH, "--lang", "ar", "user", "add", "--help")
    assert "الاستخدام: " in arabic.stdout, arabic.stdout
    assert "─ الوسائط ─" in arabic.stdout and "─ الخيارات ─" in arabic.stdout
    arabic_missing = _civop_speaking(FRENCH, "--lang", "ar", "user", "add")
    assert "─ خطأ ─" in arabic_missing.stderr, arabic_missing.stderr
    assert "وسيط ناقص 'username'." in arabic_missing.stderr

    # English as it always was.
    english = _civop_speaking({"LANG": "C.UTF-8"}, "user", "add")
    assert "Usage: python -m service.cli user add" in english.stderr
    assert "Try 'python -m service.cli user add --help' for help." in english.stderr
    assert "─ Error ─" in english.stderr and "Missing argument 'username'." in english.stderr
    english_help = _civop_speaking({"LANG": "C.UTF-8"}, "--help")
    assert "─ Commands ─" in english_help.stdout and "─ Options ─" in english_help.stdout
    assert "Show this message and exit." in english_help.stdout


def test_typers_words_go_back_to_english_in_the_same_process() -> None:
    """A runner in the same process (a test's): French for one run, English for the next."""
    from typer.testing import CliRunner

    from service.cli import app

    unset = {"LANGUAGE": None, "LC_ALL": None, "LC_MESSAGES": None}
    french = CliRunner().invoke(app, ["user", "add"], env={**unset, **FRENCH})
    assert french.exit_code == 2
    assert "Argument manquant 'username'." in french.output, french.output
    english = CliRunner().invoke(app, ["user", "add"], env={**unset, "LANG": "C.UTF-8"})
    assert "Missing argument 'username'." in english.output, english.output
    assert "─ Error ─" in english.output and "Usage: " in english.output


def test_every_word_typer_marks_is_in_the_catalogs() -> None:
    """The texts Typer marks for gettext are all listed in service/cli/library_words.py (so a
    Typer upgrade that adds one, or a module that marks them, fails here)."""
    import typer
    from babel.messages.extract import extract_from_file

    from service.cli import library_words

    package = Path(typer.__file__).parent
    marking = {
        ".".join(("typer", *path.relative_to(package).with_suffix("").parts)): path
        for path in package.rglob("*.py")
        if "from gettext import" in path.read_text()
    }
    assert set(marking) == set(library_words.GETTEXT_MODULES)
    listed = set(library_words.TYPER_WORDS) | set(library_words.RICH_TEXTS.values())
    marked = {
        message
        for path in marking.values()
        for _line, message, _comments, _context in extract_from_file(
            "python", str(path), keywords={"_": None, "ngettext": (1, 2)}
        )
    }
    assert marked and marked <= listed, marked - listed


def test_the_shells_language_is_read_as_gettext_reads_it() -> None:
    from service.i18n import from_environment

    assert from_environment({"LANG": "fr_FR.UTF-8"}) == "fr"
    assert from_environment({"LANG": "fr_FR.UTF-8", "LC_MESSAGES": "ar_EG.UTF-8"}) == "ar"
    assert from_environment({"LANG": "ar_EG.UTF-8", "LC_ALL": "C"}) == "en"
    assert from_environment({"LANGUAGE": "de:fr", "LANG": "ar_EG.UTF-8"}) == "fr"
    assert from_environment({"LANGUAGE": "", "LANG": "fr_CA"}) == "fr"
    assert from_environment({"LANGUAGE": "de", "LANG": "fr_FR.UTF-8"}) == "en"
    assert from_environment({}) == "en"
