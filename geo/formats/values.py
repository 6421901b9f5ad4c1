"""Turning a file's column into a collection field's values, a batch at a time.

Each converter takes an Arrow array (whatever the file held: text from a CSV, numbers and dates
from a GeoPackage) and returns an array of the field's type, with ``null`` where the value was
missing or wrong, and records one problem per wrong value. The work is vectorised with
``pyarrow.compute``; only text that no fast path understands (e.g. ``15 January 2024``) is parsed
value by value.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from geo.formats.base import say
from geo.formats.problems import ProblemLog
from geo.formats.schema import TargetField

NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
UUID = r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
TRUE = ("true", "t", "yes", "y", "1", "oui", "vrai")
FALSE = ("false", "f", "no", "n", "0", "non", "faux")
#: Dates written in words, as ACLED and many spreadsheets do.
DATE_FORMATS = ("%d %B %Y", "%d %b %Y", "%d-%b-%Y", "%d-%B-%Y", "%B %d, %Y", "%Y/%m/%d")
ARROW_TYPES: dict[str, pa.DataType] = {
    "text": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us", tz="UTC"),
    "enum": pa.string(),
    "uuid": pa.string(),
    "geometry": pa.string(),
}


def normalise_choice(text: str) -> str:
    """``"Armed clash"`` -> ``"armed_clash"``: how enumerated values from files are matched."""
    return re.sub(r"[\s\-/]+", "_", text.strip().lower())


#: A number written the French way: a decimal comma, thousands apart by spaces (ordinary,
#: no-break or narrow no-break), never a dot: ``12 345,6``, ``4,361``, ``-0,5``.
DECIMAL_COMMA = r"^[+-]?\d{1,3}(?:[ \x{00A0}\x{202F}]\d{3})*(?:,\d+)?$|^[+-]?\d+,\d+$"


def decimal_commas(text: pa.Array) -> pa.Array:
    """Numbers written with a decimal comma, as ``12.5``; a column is read this way when none
    of its numbers has a dot and some have a comma (an English ``1,234`` beside ``0.5`` is
    refused instead, as before). Examples:

    >>> decimal_commas(pa.array(["4,361", "12 345,6", "7", None])).to_pylist()
    ['4.361', '12345.6', '7', None]
    >>> decimal_commas(pa.array(["1,234", "0.5"])).to_pylist()
    ['1,234', '0.5']
    """
    has_comma = pc.fill_null(pc.match_substring(text, ","), False)
    has_dot = pc.fill_null(pc.match_substring(text, "."), False)
    if pc.any(has_dot).as_py():
        return text
    french = pc.fill_null(pc.match_substring_regex(text, DECIMAL_COMMA), False)
    spaced = pc.fill_null(pc.match_substring_regex(text, r"\d[ \x{00A0}\x{202F}]\d"), False)
    if not pc.any(pc.or_(has_comma, spaced)).as_py():
        return text
    plain = pc.replace_substring(
        pc.replace_substring_regex(text, r"[ \x{00A0}\x{202F}]", ""), ",", "."
    )
    return pc.if_else(french, plain, text)


def _rows(mask: pa.Array, row0: int) -> np.ndarray[Any, Any]:
    indices = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
    return indices + row0


def _problem_mask(original: pa.Array, converted: pa.Array) -> pa.Array:
    """Present in the file but lost in conversion."""
    return pc.fill_null(pc.and_(pc.is_valid(original), pc.is_null(converted)), False)


def clean_text(array: pa.Array) -> pa.Array:
    """Text without surrounding blanks; empty text is a missing value."""
    if not pa.types.is_string(array.type) and not pa.types.is_large_string(array.type):
        array = pc.cast(array, pa.string())
    trimmed = pc.utf8_trim_whitespace(array)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def missing(array: pa.Array) -> pa.Array:
    """Where a value is missing: null, or blank text. Only text is trimmed (turning numbers
    or times into text to look for blanks costs about 0.4 s per million values).

    Examples
    --------
    >>> missing(pa.array([" ", "a", None])).to_pylist(), missing(pa.array([1, None])).to_pylist()
    ([True, False, True], [False, True])
    >>> missing(pa.array(["a", " ", None]).dictionary_encode()).to_pylist()  # coded values
    [False, True, True]
    """
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        return pc.is_null(clean_text(array))
    return pc.is_null(array)


def _numbers(array: pa.Array, source: str, row0: int, log: ProblemLog, what: str) -> pa.Array:
    """float64 from numbers or number-like text."""
    if pa.types.is_integer(array.type) or pa.types.is_floating(array.type):
        return pc.cast(array, pa.float64())
    if pa.types.is_decimal(array.type):
        return pc.cast(array, pa.float64())
    if pa.types.is_boolean(array.type):
        log.add_rows(
            _rows(pc.is_valid(array), row0),
            source,
            say("{what} expected, not true/false", what=what),
        )
        return pa.nulls(len(array), pa.float64())
    text = decimal_commas(clean_text(array))
    good = pc.fill_null(pc.match_substring_regex(text, NUMBER), False)
    bad = pc.and_(pc.is_valid(text), pc.invert(good))
    bad = pc.fill_null(bad, False)
    if pc.any(bad).as_py():
        values = pc.filter(text, bad).to_pylist()
        log.add_rows(
            _rows(bad, row0),
            source,
            lambda v: say(
                "not a number: {value!r} ({what} expected; a dot or a comma for decimals, "
                "spaces only between thousands)",
                value=v,
                what=what,
            ),
            values,
        )
        text = pc.if_else(bad, pa.scalar(None, pa.string()), text)
    return pc.cast(text, pa.float64())


def _check_range(
    values: pa.Array, target: TargetField, source: str, row0: int, log: ProblemLog
) -> pa.Array:
    conditions = []
    if target.minimum is not None:
        conditions.append(pc.less(values, target.minimum))
    if target.maximum is not None:
        conditions.append(pc.greater(values, target.maximum))
    if not conditions:
        return values
    out = conditions[0] if len(conditions) == 1 else pc.or_(*conditions)
    out = pc.fill_null(out, False)
    if pc.any(out).as_py():
        if target.minimum is not None and target.maximum is not None:
            rule = say("between {low:g} and {high:g}", low=target.minimum, high=target.maximum)
        elif target.minimum is not None:
            rule = say("at least {low:g}", low=target.minimum)
        else:
            rule = say("at most {high:g}", high=target.maximum)
        log.add_rows(
            _rows(out, row0),
            source,
            say("{field} must be {rule}", field=target.name, rule=rule),
            pc.filter(values, out).to_pylist(),
        )
        values = pc.if_else(out, pa.scalar(None, values.type), values)
    return values


def to_integer(
    array: pa.Array, target: TargetField, source: str, row0: int, log: ProblemLog
) -> pa.Array:
    numbers = _numbers(array, source, row0, log, say("a whole number"))
    whole = pc.fill_null(pc.equal(pc.floor(numbers), numbers), True)
    huge = pc.fill_null(pc.greater(pc.abs(numbers), 2.0**53), False)
    bad = pc.or_(pc.invert(whole), huge)
    if pc.any(bad).as_py():
        log.add_rows(
            _rows(bad, row0),
            source,
            say("not a whole number"),
            pc.filter(numbers, bad).to_pylist(),
        )
        numbers = pc.if_else(bad, pa.scalar(None, pa.float64()), numbers)
    return _check_range(pc.cast(numbers, pa.int64()), target, source, row0, log)


def to_number(
    array: pa.Array, target: TargetField, source: str, row0: int, log: ProblemLog
) -> pa.Array:
    numbers = _numbers(array, source, row0, log, say("a number"))
    finite = pc.fill_null(pc.is_finite(numbers), True)
    if not pc.all(finite).as_py():
        bad = pc.invert(finite)
        log.add_rows(_rows(bad, row0), source, say("not a finite number"))
        numbers = pc.if_else(bad, pa.scalar(None, pa.float64()), numbers)
    return _check_range(numbers, target, source, row0, log)


def to_boolean(
    array: pa.Array, target: TargetField, source: str, row0: int, log: ProblemLog
) -> pa.Array:
    if pa.types.is_boolean(array.type):
        return array
    if pa.types.is_integer(array.type):
        array = pc.cast(array, pa.string())
    text = pc.utf8_lower(clean_text(array))
    truthy = pc.is_in(text, pa.array(TRUE))
    falsy = pc.is_in(text, pa.array(FALSE))
    bad = pc.and_(pc.is_valid(text), pc.invert(pc.or_(truthy, falsy)))
    bad = pc.fill_null(bad, False)
    if pc.any(bad).as_py():
        log.add_rows(
            _rows(bad, row0),
            source,
            lambda v: say("not true or false: {value!r} (use true/false, yes/no or 1/0)", value=v),
            pc.filter(text, bad).to_pylist(),
        )
    return pc.if_else(
        pc.fill_null(truthy, False),
        True,
        pc.if_else(pc.fill_null(falsy, False), False, pa.scalar(None, pa.bool_())),
    )


def _parse_words(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None:
        for layout in DATE_FORMATS:
            try:
                moment = datetime.strptime(text, layout)
                break
            except ValueError:
                continue
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _texts_to_instants(text: pa.Array) -> pa.Array:
    """Instants (UTC) from ISO 8601 text, fast when the whole batch is ISO, value by value
    otherwise. Text without a zone is taken as UTC."""
    unit = pa.timestamp("us", tz="UTC")
    try:
        return pc.cast(text, unit)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    try:
        return pc.assume_timezone(pc.cast(text, pa.timestamp("us")), "UTC")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    parsed = [None if t is None else _parse_words(t) for t in text.to_pylist()]
    return pa.array(parsed, unit)


def to_datetime(
    array: pa.Array, target: TargetField, source: str, row0: int, log: ProblemLog
) -> pa.Array:
    unit = pa.timestamp("us", tz="UTC")
    if pa.types.is_timestamp(array.type):
        if array.type.tz is None:
            return pc.assume_timezone(pc.cast(array, pa.timestamp("us")), "UTC")
        return pc.cast(array, unit)
    if pa.types.is_date(array.type):
        return pc.assume_timezone(pc.cast(pc.cast(array, pa.date32()), pa.timestamp("us")), "UTC")
    text = clean_text(array)
    instants = _texts_to_instants(text)
    bad = _problem_mask(text, instants)
    if pc.any(bad).as_py():
        log.add_rows(
            _rows(bad, row0),
            source,
            lambda v: say(
                "not a date and time: {value!r}; write ISO 8601, e.g. 2026-03-01T14:30:00Z "
                "(without a zone, UTC is assumed)",
                value=v,
            ),
            pc.filter(text, bad).to_pylist(),
        )
    return instants


def to_date(
    array: pa.Array, target: TargetField, source: str, row0: int, log: ProblemLog
) -> pa.Array:
    if pa.types.is_date(array.type):
        return pc.cast(array, pa.date32())
    if pa.types.is_timestamp(array.type):
        return pc.cast(array, pa.date32())
    text = clean_text(array)
    try:
        days = pc.cast(text, pa.date32())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        parsed: list[date | None] = []
        for value in text.to_pylist():
            moment = None if value is None else _parse_words(value)
            parsed.append(None if moment is None else moment.date())
        days = pa.array(parsed, pa.date32())
    bad = _problem_mask(text, days)
    if pc.any(bad).as_py():
        log.add_rows(
            _rows(bad, row0),
            source,
            lambda v: f"not a date: {v!r}; write it as YYYY-MM-DD",
            pc.filter(text, bad).to_pylist(),
        )
    return days


def fold_choice(text: pa.Array) -> pa.Array:
    """How a file's enumerated values are compared: lower case, no accents or Arabic tatweel,
    blanks, dashes and slashes as ``_`` (``Camp planifié`` -> ``camp_planifie``)."""
    decomposed = pc.utf8_normalize(pc.utf8_lower(text), "NFKD")
    bare = pc.replace_substring_regex(decomposed, r"[\p{Mn}\x{0640}]", "")
    trimmed = pc.utf8_trim_whitespace(bare)
    return pc.replace_substring_regex(trimmed, r"[\s\-/]+", "_")


def to_enum(
    array: pa.Array, target: TargetField, source: str, row0: int, log: ProblemLog
) -> pa.Array:
    text = clean_text(array)
    lowered = pc.utf8_lower(text)
    normalised = pc.replace_substring_regex(lowered, r"[\s\-/]+", "_")
    # Matched without regard to case and spacing, stored as the vocabulary writes it.
    position = pc.index_in(normalised, pa.array([normalise_choice(c) for c in target.choices]))
    values = pc.take(pa.array(target.choices, pa.string()), position)
    if target.synonyms and pc.any(pc.and_(pc.is_valid(text), pc.is_null(position))).as_py():
        # Then as a label in any language, without regard to accents either.
        forms = pa.array([form for form, _code in target.synonyms], pa.string())
        codes = pa.array([code for _form, code in target.synonyms], pa.string())
        by_label = pc.take(codes, pc.index_in(fold_choice(text), forms))
        values = pc.coalesce(values, by_label)
        position = pc.coalesce(position, pc.index_in(by_label, pa.array(target.choices)))
    bad = pc.fill_null(pc.and_(pc.is_valid(text), pc.is_null(position)), False)
    if pc.any(bad).as_py():
        allowed = ", ".join(target.choices)
        log.add_rows(
            _rows(bad, row0),
            source,
            lambda v: say(
                "unknown {field} {value!r}; use one of: {allowed}",
                field=target.name,
                value=v,
                allowed=allowed,
            ),
            pc.filter(text, bad).to_pylist(),
        )
        values = pc.if_else(bad, pa.scalar(None, pa.string()), values)
    return values


def to_uuid(
    array: pa.Array, target: TargetField, source: str, row0: int, log: ProblemLog
) -> pa.Array:
    text = pc.utf8_lower(clean_text(array))
    good = pc.fill_null(pc.match_substring_regex(text, UUID), False)
    bad = pc.fill_null(pc.and_(pc.is_valid(text), pc.invert(good)), False)
    if pc.any(bad).as_py():
        log.add_rows(
            _rows(bad, row0),
            source,
            lambda v: say(
                "{field} must be a record id (a UUID), not {value!r}", field=target.name, value=v
            ),
            pc.filter(text, bad).to_pylist(),
        )
        text = pc.if_else(bad, pa.scalar(None, pa.string()), text)
    return text


def to_text(
    array: pa.Array, target: TargetField, source: str, row0: int, log: ProblemLog
) -> pa.Array:
    if pa.types.is_binary(array.type) or pa.types.is_large_binary(array.type):
        array = pc.cast(array, pa.string())
    text = clean_text(array)
    if target.max_length is not None:
        long = pc.fill_null(pc.greater(pc.utf8_length(text), target.max_length), False)
        if pc.any(long).as_py():
            log.add_rows(
                _rows(long, row0),
                source,
                say(
                    "{field} is longer than {length} characters",
                    field=target.name,
                    length=target.max_length,
                ),
                pc.filter(text, long).to_pylist(),
            )
            text = pc.if_else(long, pa.scalar(None, pa.string()), text)
    if target.pattern is not None:
        fits = pc.match_substring_regex(text, target.pattern)
        bad = pc.fill_null(pc.and_(pc.is_valid(text), pc.invert(fits)), False)
        if pc.any(bad).as_py():
            log.add_rows(
                _rows(bad, row0),
                source,
                lambda v: say("{value!r} is not a valid {field}", value=v, field=target.name),
                pc.filter(text, bad).to_pylist(),
            )
            text = pc.if_else(bad, pa.scalar(None, pa.string()), text)
    return text


Converter = Callable[[pa.Array, TargetField, str, int, ProblemLog], pa.Array]

CONVERTERS: dict[str, Converter] = {
    "text": to_text,
    "integer": to_integer,
    "number": to_number,
    "boolean": to_boolean,
    "date": to_date,
    "datetime": to_datetime,
    "enum": to_enum,
    "uuid": to_uuid,
}


def convert(
    array: pa.Array, target: TargetField, source: str, row0: int, log: ProblemLog
) -> pa.Array:
    """One column of a batch as the target field's values.

    Parameters
    ----------
    array : pyarrow.Array
        The file's values (any type).
    target : TargetField
        The collection field they go into.
    source : str
        The field's name in the file (problems quote it).
    row0 : int
        Row number of the batch's first record.
    log : ProblemLog
        Where problems go.

    Returns
    -------
    pyarrow.Array
        Of ``ARROW_TYPES[target.kind]``, null where missing or refused.

    Examples
    --------
    >>> import pyarrow as pa
    >>> from geo.formats.schema import TargetField
    >>> log = ProblemLog()
    >>> convert(pa.array(["3", "x", ""]), TargetField("severity", "integer"), "sev", 1, log).to_pylist()
    [3, None, None]
    >>> log.items[0].row, log.items[0].message.split(":")[0]
    (2, 'not a number')
    """
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_null(array.type):
        return pa.nulls(len(array), ARROW_TYPES[target.kind])
    result = CONVERTERS[target.kind](array, target, source, row0, log)
    if isinstance(result, pa.ChunkedArray):
        result = result.combine_chunks()
    return result.cast(ARROW_TYPES[target.kind])
