"""The words Typer writes itself (``Usage:``, the ``Arguments``, ``Options`` and ``Commands``
panels, ``Missing argument``, ``Invalid value for '--lang': ...``, the ``Error`` panel and its
``Try 'civop --help' for help.``), in the command line's language, from civop's catalogs.

Typer writes these in two ways, and both answer here in the current
:data:`~service.i18n.LANGUAGE` (``--lang`` included; English is the English text, as before):

- ``typer.core`` and ``typer.rich_utils`` mark theirs with the standard library's gettext
  (``from gettext import gettext as _``), which reads one process-wide catalog chosen from the
  environment: :func:`install` gives those modules civop's ``_`` instead. ``rich_utils``
  translates its fixed texts once, when imported: :func:`speak` writes them again.
- the Click that Typer carries (``typer._click``) writes its usage line, its errors about
  parameters and the help of ``--help`` in English, unmarked (and so does Typer the choices
  of a missing option): :func:`install` wraps the few methods that write them so that those words come from the catalogs, with the msgids Click
  itself marks them with; the rest of each text (names, values, our own messages) is kept.
  When Typer writes them differently, the English text is shown as before.

The texts are copied here verbatim, so that ``make messages`` puts them in the catalogs and the
catalog tests see each one translated; ``tests/test_cli.py`` compares this list with the
installed Typer."""

from __future__ import annotations

import functools
import gettext
import importlib
from collections.abc import Callable
from typing import Any

from service.i18n import LANGUAGE, N_, _, translate

#: What ``typer.core`` marks with ``_()``.
TYPER_WORDS = (
    N_("Arguments"),
    N_("Options"),
    N_("Commands"),
    N_("Missing command."),
    N_("No such command {name!r}."),
    N_("Aborted!"),
    N_("default: {default}"),
    N_("env var: {var}"),
    N_("required"),
    N_("(dynamic)"),
)

#: Typer's rich help and errors: the fixed texts ``typer.rich_utils`` translates once, by name.
RICH_TEXTS = {
    "DEPRECATED_STRING": N_("(deprecated) "),
    "DEFAULT_STRING": N_("[default: {}]"),
    "ENVVAR_STRING": N_("[env var: {}]"),
    "REQUIRED_LONG_STRING": N_("[required]"),
    "ARGUMENTS_PANEL_TITLE": N_("Arguments"),
    "OPTIONS_PANEL_TITLE": N_("Options"),
    "COMMANDS_PANEL_TITLE": N_("Commands"),
    "ERRORS_PANEL_TITLE": N_("Error"),
    "ABORTED_TEXT": N_("Aborted."),
    "RICH_HELP": N_("Try [blue]'{command_path} {help_option}'[/] for help."),
}

#: The modules of Typer that take ``gettext`` from the standard library.
GETTEXT_MODULES = ("typer.core", "typer.rich_utils")

#: The words of ``typer._click`` translated here, as Click marks them.
USAGE = N_("Usage:")
HELP = N_("Show this message and exit.")
INVALID = N_("Invalid value: {message}")
INVALID_FOR = N_("Invalid value for {param_hint}: {message}")
MISSING = {
    "argument": N_("Missing argument"),
    "option": N_("Missing option"),
    "parameter": N_("Missing parameter"),
}
MISSING_OTHER = N_("Missing {param_type}")
CHOOSE = N_("Choose from:\n\t{choices}")


def library_gettext(message: str) -> str:
    """Typer's ``_()``: ``message`` in the current language."""
    return translate(message, LANGUAGE.get())


def _wrap(owner: type, name: str, make: Callable[[Any], Callable[..., Any]]) -> None:
    """``owner.name`` replaced by ``make(original)``, once."""
    original = owner.__dict__[name]
    if getattr(original, "_civop_original", None) is None:
        wrapper = functools.wraps(original)(make(original))
        wrapper._civop_original = original  # type: ignore[attr-defined]
        setattr(owner, name, wrapper)


def _usage(write_usage: Callable[..., None]) -> Callable[..., None]:
    def translated(self: Any, prog: str, args: str = "", prefix: str | None = None) -> None:
        write_usage(self, prog, args, f"{_(USAGE)} " if prefix is None else prefix)

    return translated


def _help_option(get_help_option: Callable[..., Any]) -> Callable[..., Any]:
    def translated(self: Any, ctx: Any) -> Any:
        option = get_help_option(self, ctx)
        if option is not None and option.help in (HELP, getattr(option, "_civop_help", None)):
            option.help = option._civop_help = _(HELP)
        return option

    return translated


def _invalid(format_message: Callable[[Any], str]) -> Callable[[Any], str]:
    def translated(self: Any) -> str:
        english, message = format_message(self), str(self.message)
        if english == f"Invalid value: {message}":
            return _(INVALID, message=message)
        start, end = "Invalid value for ", f": {message}"
        if english.startswith(start) and english.endswith(end):
            hint = english[len(start) : len(english) - len(end)]
            return _(INVALID_FOR, param_hint=hint, message=message)
        return english

    return translated


def _missing(format_message: Callable[[Any], str]) -> Callable[[Any], str]:
    def translated(self: Any) -> str:
        english = format_message(self)
        param_type = self.param_type
        if param_type is None and self.param is not None:
            param_type = self.param.param_type_name
        start = f"Missing {param_type}"
        if not english.startswith(start):
            return english
        if param_type in MISSING:
            missing = _(MISSING[param_type])
        else:
            missing = _(MISSING_OTHER, param_type=param_type)
        return missing + english[len(start) :]

    return translated


def _choices(get_missing_message: Callable[..., str | None]) -> Callable[..., str | None]:
    def translated(self: Any, ctx: Any) -> str | None:
        english = get_missing_message(self, ctx)
        start = "Choose from:\n\t"
        if english and english.startswith(start):
            return _(CHOOSE, choices=english[len(start) :])
        return english

    return translated


def install() -> None:
    """Typer speaks through civop's catalogs (once; again does nothing)."""
    for name in GETTEXT_MODULES:
        module = importlib.import_module(name)
        if getattr(module, "_", None) is gettext.gettext:
            vars(module)["_"] = library_gettext
    click_core = importlib.import_module("typer._click.core")
    exceptions = importlib.import_module("typer._click.exceptions")
    formatting = importlib.import_module("typer._click.formatting")
    _wrap(formatting.HelpFormatter, "write_usage", _usage)
    _wrap(click_core.Command, "get_help_option", _help_option)
    _wrap(exceptions.BadParameter, "format_message", _invalid)
    _wrap(exceptions.MissingParameter, "format_message", _missing)
    _wrap(importlib.import_module("typer.core")._TyperParameter, "get_missing_message", _choices)


def speak() -> None:
    """Typer's words in the current language, its rich help's fixed texts included."""
    install()
    rich_utils = importlib.import_module("typer.rich_utils")
    for name, english in RICH_TEXTS.items():
        setattr(rich_utils, name, _(english))
