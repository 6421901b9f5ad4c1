"""The translation catalogs are complete: every text marked for translation in the code and the
templates (extracted now, as ``make messages`` does, so texts added anywhere are seen) has a
French and an Arabic translation, with the same ``{placeholders}``; enumerated values all have
labels. No database needed."""

from __future__ import annotations

import ast
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
    """Every text marked with ``_()``/``N_()`` in service/, and ``say()`` in geo/ (babel.cfg's
    rules, as ``make messages`` extracts them): {text: where}."""
    with (ROOT / "babel.cfg").open() as rules:
        method_map, options_map = parse_mapping_cfg(rules)
    found: dict[str, str] = {}
    for folder in (SERVICE, ROOT / "geo"):
        for filename, lineno, message, _comments, _context in extract_from_dir(
            str(folder),
            method_map,
            options_map,
            keywords={"_": None, "N_": None, "say": None},
            directory_filter=lambda path: (
                "node_modules" not in path and not Path(path).name.startswith((".", "_"))
            ),
        ):
            text = message if isinstance(message, str) else message[0]
            if text:
                found.setdefault(text, f"{folder.name}/{filename}:{lineno}")
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


#: Words a template may write as they are in every language: names, formats, symbols.
UNTRANSLATED = {"civop", "PDF", "PNG", "Gi", "z", "km", "MGRS", "DSRSG", "HOMC", "RC", "HC"}
#: Attributes people read (the rest are names, classes, ids, option values...).
READ_ATTRIBUTES = ("alt", "title", "placeholder", "aria-label", "label")


def unmarked_texts(source: str) -> list[str]:
    """Text a Jinja2 template writes outside ``{{ }}``/``{% %}`` that people would read:
    the words between tags, and literal values of the attributes people read."""
    from jinja2 import Environment

    data = "".join(
        value for _line, kind, value in Environment(autoescape=True).lex(source) if kind == "data"
    )
    data = re.sub(r"<(style|script)\b.*?</\1>", " ", data, flags=re.S | re.I)
    found = []
    for attribute in READ_ATTRIBUTES:
        for value in re.findall(rf'\b{attribute}="([^"]*)"', data):
            found += [value] if _words(value) else []
    text = re.sub(r"<[^>]*>", " ", data)
    # Attributes a macro writes into the tag that calls it (`` aria-invalid="true"``) are names
    # and values, not prose (the values people read were checked above).
    text = re.sub(r'(?<![^\s])[a-z][\w:-]*="[^"]*"', " ", text)
    found += [chunk.strip() for chunk in re.split(r"\s{2,}|\n", text) if _words(chunk)]
    return found


def _words(text: str) -> bool:
    words = re.findall(r"[^\W\d_]{2,}", text)
    return any(word not in UNTRANSLATED for word in words)


def templates() -> list[Path]:
    return sorted(
        path
        for pattern in ("**/templates/**/*.html", "**/templates/**/*.j2", "**/templates/*.html")
        for path in SERVICE.glob(pattern)
        if "node_modules" not in path.parts
    )


def test_templates_write_no_text_outside_the_catalogs() -> None:
    """Every text of every template (the map's panels, the reports, the workspace's pages)
    goes through _(): one written as it is fails here, with its file."""
    found = {
        str(path.relative_to(ROOT)): unmarked
        for path in dict.fromkeys(templates())
        if (unmarked := unmarked_texts(path.read_text()))
    }
    assert not found, found


def test_the_template_check_sees_unmarked_text() -> None:
    assert unmarked_texts('<p class="x">Save the report</p>') == ["Save the report"]
    assert unmarked_texts('<img alt="Map of the area" src="{{ m }}">') == ["Map of the area"]
    assert unmarked_texts('<p>{{ _("Save the report") }} <b>{{ n }}</b> km</p>') == []
    # A macro writing attributes only: the names are not prose, a title still is.
    assert (
        unmarked_texts('{% if m %} aria-describedby="{{ i }}" aria-invalid="true"{% endif %}') == []
    )
    assert unmarked_texts(' title="Close the panel" data-x="y"') == ["Close the panel"]


#: The refusals whose message is for people (the code is the class).
REFUSALS = {
    "NotFound",
    "Forbidden",
    "Conflict",
    "Unauthorized",
    "TooManyRequests",
    "CivopError",
    "DatabaseUnavailable",
    "InvalidInput",
    "BackupError",
}


def unmarked_refusals(path: Path, root: Path = ROOT) -> list[str]:
    """``raise NotFound("text")`` or an f-string: a refusal whose message is not from _()."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in REFUSALS
        ):
            continue
        messages = node.args[1:2] if node.func.id == "InvalidInput" else node.args[:1]
        for message in messages:
            literal = isinstance(message, ast.Constant) and isinstance(message.value, str)
            if literal or isinstance(message, ast.JoinedStr | ast.BinOp):
                found.append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def test_refusals_are_written_with_the_catalogs() -> None:
    """Every refusal the API or the command line gives says its message through _(): one
    written as an English literal or f-string fails here, with its place."""
    found = [place for path in sorted(SERVICE.rglob("*.py")) for place in unmarked_refusals(path)]
    assert not found, f"refusals without _(): {found}"


def test_the_refusal_check_sees_unmarked_refusals(tmp_path: Path) -> None:
    source = tmp_path / "refusals.py"
    source.write_text(
        'raise NotFound(f"unknown collection {name!r}")\n'
        'raise InvalidInput(["query", "x"], "x is too large")\n'
        'raise Conflict(_("the project ends on {day}", day=day))\n'
    )
    places = [place.rsplit(":", 1)[1] for place in unmarked_refusals(source, root=tmp_path)]
    assert places == ["1", "2"]


#: What the command line prints for people: the message of these calls...
CLI_SAYERS = {"echo", "secho", "prompt", "confirm", "fail", "say_error", "BadParameter"}
#: ... and these keywords of any call (a command's, an option's, a progress bar's).
CLI_KEYWORDS = {"help", "short_help", "epilog", "prompt", "label", "confirmation_prompt"}


def _written_as_is(node: ast.expr) -> bool:
    """An English text written in the code (a literal, an f-string, a sum of them) rather than
    from the catalogs (``_()``/``N_()``), when it holds words."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and _words(node.value)
    if isinstance(node, ast.JoinedStr):
        return any(_written_as_is(part) for part in node.values if isinstance(part, ast.Constant))
    if isinstance(node, ast.BinOp):
        return _written_as_is(node.left) or _written_as_is(node.right)
    return False


def unmarked_cli_texts(path: Path, root: Path = ROOT) -> list[str]:
    """Texts a command prints (``typer.echo("...")``, ``fail(f"...")``), help and prompts
    written as they are, and commands whose help would be their English docstring (Typer reads
    it when no ``help=`` is given)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
        place = f"{path.relative_to(root)}:{node.lineno}"
        if name in CLI_SAYERS and any(_written_as_is(arg) for arg in node.args[:1]):
            found.append(place)
        for keyword in node.keywords:
            if keyword.arg in CLI_KEYWORDS and _written_as_is(keyword.value):
                found.append(f"{place} ({keyword.arg}=)")
        if name in ("command", "Typer") and not any(k.arg == "help" for k in node.keywords):
            found.append(f"{place} (no help=)")
    return found


def test_the_command_line_says_everything_through_the_catalogs() -> None:
    """Every message civop's command line prints for people, and the help of its commands and
    options, comes from _() or N_(): one written as it is fails here, with its place."""
    found = [
        place
        for path in sorted((SERVICE / "cli").glob("*.py"))
        for place in unmarked_cli_texts(path)
    ]
    assert not found, f"command-line texts without _() or N_(): {found}"


def test_the_command_line_check_sees_unmarked_texts(tmp_path: Path) -> None:
    source = tmp_path / "cli.py"
    source.write_text(
        'typer.echo(f"user {name} created")\n'
        'typer.echo(_("user {name} created", name=name))\n'
        'typer.echo(f"{key}\\t{name}")\n'
        'fail("--format is pdf or html")\n'
        'x: Annotated[str, typer.Option(help="The user the key acts as.")]\n'
        'y: Annotated[str, typer.Option(help=N_("The user the key acts as."))]\n'
        '@app.command("list")\ndef listed() -> None:\n    """List users."""\n'
        '@app.command("add", help=N_("Create a user."))\ndef add() -> None: ...\n'
    )
    places = [place.split(":", 1)[1] for place in unmarked_cli_texts(source, root=tmp_path)]
    assert sorted(places, key=lambda p: int(p.split()[0])) == [
        "1",
        "4",
        "5 (help=)",
        "7 (no help=)",
    ]
