"""The command line in its user's language: the language of the shell (``LANGUAGE``,
``LC_ALL``, ``LC_MESSAGES``, ``LANG``, as gettext reads them) or ``civop --lang fr``.

Every text ``civop`` prints for people goes through ``_()`` when it is printed; the help of
the commands, their options and their prompts is written with ``N_()`` where the command is
declared and translated here, on the command tree Typer builds, once the language is known.
What programs read (files, JSON, identifiers, keys, tab-separated lists) is not translated."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from service.cli import library_words
from service.i18n import LANGUAGE, N_, _, from_environment, languages, supported

#: The attributes of a command and of its parameters that people read.
_COMMAND_TEXTS = ("help", "short_help", "epilog")
_PARAMETER_TEXTS = ("help", "prompt", "confirmation_prompt")
#: What a password is asked again with (``confirmation_prompt=True``).
REPEAT = N_("Repeat for confirmation")
#: The help of the options Typer adds to the command line, translated like ours. (What Typer
#: and Click write themselves, ``Usage:`` or their errors, is in ``library_words``.)
TYPER_TEXTS = (
    N_("Install completion for the current shell."),
    N_("Show completion for the current shell, to copy it or customize the installation."),
)


def _translate(thing: object, attribute: str) -> None:
    """``thing.attribute`` in the current language, from the English kept beside it (so the
    tree can be translated again, after ``--lang``)."""
    kept = f"_civop_english_{attribute}"
    if not hasattr(thing, kept):
        setattr(thing, kept, getattr(thing, attribute, None))
    english = getattr(thing, kept)
    if english is True and attribute == "confirmation_prompt":
        english = REPEAT
    if isinstance(english, str) and english:
        setattr(thing, attribute, _(english))


def translate_commands(command: Any) -> None:
    """The help of ``command`` (a command or a group of Typer's Click), its parameters and
    its sub-commands in the current language."""
    for attribute in _COMMAND_TEXTS:
        _translate(command, attribute)
    for parameter in command.params:
        for attribute in _PARAMETER_TEXTS:
            _translate(parameter, attribute)
    for sub_command in getattr(command, "commands", {}).values():
        translate_commands(sub_command)


class CivopGroup(TyperGroup):
    """The ``civop`` command: it speaks the shell's language from the start (its help
    included), and ``--lang`` changes it."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        token = LANGUAGE.set(from_environment())
        translate_commands(self)
        library_words.speak()
        try:
            return super().main(*args, **kwargs)
        finally:
            # The same process may go on (a test's runner): it gets its language back.
            LANGUAGE.reset(token)
            library_words.speak()


def choose_language(ctx: typer.Context, value: str | None) -> str | None:
    """``--lang``: read before the other options, so the help and the prompts are in it."""
    if value is None or ctx.resilient_parsing:
        return value
    code = supported(value)
    if code is None:
        raise typer.BadParameter(
            _(
                "civop speaks {languages}, not '{value}'",
                languages=", ".join(languages()),
                value=value,
            )
        )
    LANGUAGE.set(code)
    translate_commands(ctx.find_root().command)
    library_words.speak()
    return code
