"""OGC API - Features Part 3 filters: CQL2 text or JSON, parsed by the ``cql2`` package and
turned into SQL on the principal's view of the table (``service.access.sql.view``).

Every value is a bound parameter and every property is a column of the view: a filter sees
what the principal sees and no more. A masked field is NULL in the view, a generalised
record's location is its coarse one there, so a filter on either cannot tell such records
apart (it cannot find a record by a value or a precise place the principal may not see)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import cql2
from sqlalchemy import and_, func, literal, not_, or_
from sqlalchemy.sql.elements import ColumnElement

from service.access.sql import View
from service.core.crs import CRS84, Crs
from service.errors import InvalidInput, shown
from service.i18n import _

TEXT = "cql2-text"
JSON = "cql2-json"
LANGUAGES = (TEXT, JSON)
#: Longest filter accepted, as the other query parameters: it travels in a URL, which the
#: HTTP server limits (a polygon of some 40 vertices fits).
MAX_LENGTH = 1000
#: Deepest nesting of a filter: real ones are a few levels deep.
MAX_DEPTH = 64
GEOMETRY_NAMES = ("geom", "geometry")

_COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "=": lambda a, b: a == b,
    "<>": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
_SPATIAL = {
    "s_intersects": "ST_Intersects",
    "s_within": "ST_Within",
    "s_contains": "ST_Contains",
    "s_disjoint": "ST_Disjoint",
    "s_equals": "ST_Equals",
    "s_touches": "ST_Touches",
    "s_crosses": "ST_Crosses",
    "s_overlaps": "ST_Overlaps",
}
#: The temporal functions of CQL2, on intervals (an instant is an interval of no length).
_TEMPORAL: dict[str, Callable[[Any, Any, Any, Any], Any]] = {
    "t_after": lambda ls, le, rs, re: ls > re,
    "t_before": lambda ls, le, rs, re: le < rs,
    "t_contains": lambda ls, le, rs, re: and_(ls < rs, le > re),
    "t_disjoint": lambda ls, le, rs, re: or_(le < rs, ls > re),
    "t_during": lambda ls, le, rs, re: and_(ls > rs, le < re),
    "t_equals": lambda ls, le, rs, re: and_(ls == rs, le == re),
    "t_finishedby": lambda ls, le, rs, re: and_(ls < rs, le == re),
    "t_finishes": lambda ls, le, rs, re: and_(ls > rs, le == re),
    "t_intersects": lambda ls, le, rs, re: and_(ls <= re, le >= rs),
    "anyinteracts": lambda ls, le, rs, re: and_(ls <= re, le >= rs),
    "t_meets": lambda ls, le, rs, re: le == rs,
    "t_metby": lambda ls, le, rs, re: ls == re,
    "t_overlappedby": lambda ls, le, rs, re: and_(ls > rs, ls < re, le > re),
    "t_overlaps": lambda ls, le, rs, re: and_(ls < rs, le > rs, le < re),
    "t_startedby": lambda ls, le, rs, re: and_(ls == rs, le > re),
    "t_starts": lambda ls, le, rs, re: and_(ls == rs, le < re),
}


def _refuse(message: str) -> InvalidInput:
    return InvalidInput(["query", "filter"], message)


def parse(text: str, language: str | None) -> dict[str, Any]:
    """The filter as CQL2 JSON; ``400`` naming what is wrong when it does not parse."""
    language = language or TEXT
    if language not in LANGUAGES:
        raise InvalidInput(
            ["query", "filter-lang"],
            _(
                "filter-lang must be {TEXT} or {JSON}, not {language!r}",
                TEXT=TEXT,
                JSON=JSON,
                language=shown(language),
            ),
        )
    if len(text) > MAX_LENGTH:
        raise _refuse(f"the filter is longer than {MAX_LENGTH} characters")
    try:
        expression = cql2.parse_json(text) if language == JSON else cql2.parse_text(text)
        expression.validate()
    except (cql2.ParseError, cql2.ValidationError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else "not CQL2"
        raise _refuse(f"the filter is not valid {language}: {shown(first)}") from error
    found: dict[str, Any] = expression.to_json()
    return found


class Translator:
    """CQL2 JSON to a condition on the view, for the properties in ``schemas``."""

    def __init__(self, v: View, schemas: dict[str, dict[str, Any]], crs: Crs = CRS84) -> None:
        self.v = v
        self.schemas = schemas
        self.crs = crs

    def condition(self, node: Any, depth: int = 0) -> ColumnElement[bool]:
        if depth > MAX_DEPTH:
            raise _refuse(f"the filter nests deeper than {MAX_DEPTH} levels")
        if isinstance(node, bool):
            return literal(node)
        if not isinstance(node, dict) or "op" not in node:
            raise _refuse(f"expected a condition, found {shown(json.dumps(node))}")
        op = str(node["op"]).lower()
        args = node.get("args", [])
        if op in ("and", "or"):
            parts = [self.condition(a, depth + 1) for a in args]
            return and_(*parts) if op == "and" else or_(*parts)
        if op == "not":
            return not_(self.condition(args[0], depth + 1))
        if op in _COMPARISONS:
            left, right = self._pair(args)
            return _COMPARISONS[op](left, right)  # type: ignore[no-any-return]
        if op == "like":
            name = self._name(args[0])
            return self.v.column(name).like(self._value(args[1], name))
        if op == "between":
            name = self._name(args[0])
            low, high = self._value(args[1], name), self._value(args[2], name)
            return self.v.column(name).between(low, high)
        if op == "in":
            name = self._name(args[0])
            if not isinstance(args[1], list) or not args[1]:
                raise _refuse("IN takes a list of values")
            return self.v.column(name).in_([self._value(a, name) for a in args[1]])
        if op == "isnull":
            return self._operand(args[0]).is_(None)  # type: ignore[no-any-return]
        if op in _SPATIAL:
            relation: ColumnElement[bool] = getattr(func, _SPATIAL[op])(
                self._geometry(args[0]), self._geometry(args[1])
            )
            return relation
        if op in _TEMPORAL:
            return self._temporal(op, args)
        raise _refuse(f"the filter uses {shown(str(node['op']))!r}, which is not supported here")

    # -- operands ------------------------------------------------------------------------

    def _name(self, node: Any) -> str:
        if not isinstance(node, dict) or "property" not in node:
            raise _refuse("a property must come first in this comparison")
        name = str(node["property"])
        if name not in self.schemas or name in GEOMETRY_NAMES:
            raise _refuse(
                f"unknown property {shown(name)!r}; the collection's queryables lists "
                "what a filter may name"
            )
        return name

    def _operand(self, node: Any) -> Any:
        if isinstance(node, dict) and "property" in node:
            name = str(node["property"])
            if name in GEOMETRY_NAMES:
                return self.v.column("geom")
            return self.v.column(self._name(node))
        return literal(_plain(node))

    def _pair(self, args: list[Any]) -> tuple[Any, Any]:
        left, right = args
        if isinstance(left, dict) and "property" in left:
            name = self._name(left)
            return self.v.column(name), self._typed(right, name)
        if isinstance(right, dict) and "property" in right:
            name = self._name(right)
            return self._typed(left, name), self.v.column(name)
        return literal(_plain(left)), literal(_plain(right))

    def _typed(self, node: Any, name: str) -> Any:
        if isinstance(node, dict) and "property" in node:
            return self.v.column(self._name(node))
        return literal(self._value(node, name))

    def _value(self, node: Any, name: str) -> Any:
        """A literal held to the type of the property it is compared with."""
        value = _plain(node)
        schema = self.schemas[name]
        kind, form = schema.get("type"), schema.get("format")
        try:
            if kind == "integer":
                if isinstance(value, bool) or float(value) != int(float(value)):
                    raise ValueError(value)
                return int(float(value))
            if kind == "number":
                return float(value)
            if kind == "boolean":
                if not isinstance(value, bool):
                    raise ValueError(value)
                return value
            if form == "date-time":
                return _parse_instant(value)
            if form == "date":
                return value if isinstance(value, date) else date.fromisoformat(str(value))
            if form == "uuid":
                return uuid.UUID(str(value))
        except (TypeError, ValueError) as error:
            raise _refuse(
                f"{shown(str(value))!r} is not a value {name} can have ({form or kind})"
            ) from error
        if not isinstance(value, str):
            raise _refuse(f"{name} is text: compare it with a text value")
        return value

    def _geometry(self, node: Any) -> Any:
        if isinstance(node, dict) and "property" in node:
            if str(node["property"]) not in GEOMETRY_NAMES:
                raise _refuse("spatial operators compare the geometry (geom) with a geometry")
            return self.v.column("geom")
        if isinstance(node, dict) and "bbox" in node:
            box = [float(n) for n in node["bbox"]]
            if len(box) == 6:
                box = [box[0], box[1], box[3], box[4]]
            if len(box) != 4:
                raise _refuse("a BBOX has four numbers")
            if self.crs.lat_first:
                box = [box[1], box[0], box[3], box[2]]
            shape = func.ST_MakeEnvelope(*(literal(n) for n in box), self.crs.srid)
        elif isinstance(node, dict) and "type" in node:
            shape = func.ST_SetSRID(
                func.ST_GeomFromGeoJSON(literal(json.dumps(node))), self.crs.srid
            )
            if self.crs.lat_first:
                shape = func.ST_FlipCoordinates(shape)
        else:
            raise _refuse(f"expected a geometry, found {shown(json.dumps(node))}")
        return shape if self.crs.srid == 4326 else func.ST_Transform(shape, 4326)

    def _temporal(self, op: str, args: list[Any]) -> ColumnElement[bool]:
        left_start, left_end = self._interval(args[0])
        right_start, right_end = self._interval(args[1])
        found: ColumnElement[bool] = _TEMPORAL[op](left_start, left_end, right_start, right_end)
        return found

    def _interval(self, node: Any) -> tuple[Any, Any]:
        if isinstance(node, dict) and "property" in node:
            name = self._name(node)
            if self.schemas[name].get("format") not in ("date-time", "date"):
                raise _refuse(f"{name} is not a date or time")
            column = self.v.column(name)
            return column, column
        if isinstance(node, dict) and "interval" in node:
            start, end = node["interval"]
            low = literal(_instant(_plain(start))) if start not in ("..", None) else None
            high = literal(_instant(_plain(end))) if end not in ("..", None) else None
            far_past = literal(datetime(1, 1, 1, tzinfo=UTC))
            far_future = literal(datetime(9999, 12, 31, tzinfo=UTC))
            return low if low is not None else far_past, high if high is not None else far_future
        moment = literal(_instant(_plain(node)))
        return moment, moment


def _plain(node: Any) -> Any:
    """A literal's value: ``{"timestamp": ...}`` and ``{"date": ...}`` give their text."""
    if isinstance(node, dict):
        for key in ("timestamp", "date"):
            if key in node:
                return node[key]
        raise _refuse(f"expected a value, found {shown(json.dumps(node))}")
    if isinstance(node, list):
        raise _refuse("a list of values is only allowed after IN")
    return node


def _parse_instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    text = str(value)
    if len(text) == 10:
        day = date.fromisoformat(text)
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _instant(value: Any) -> datetime:
    try:
        return _parse_instant(value)
    except ValueError as error:
        raise _refuse(f"{shown(str(value))!r} is not an RFC 3339 date or date-time") from error


def condition(
    v: View, document: dict[str, Any], schemas: dict[str, dict[str, Any]], crs: Crs = CRS84
) -> ColumnElement[bool]:
    """The CQL2 JSON ``document`` as a condition on the view ``v``."""
    return Translator(v, schemas, crs).condition(document)
