"""The API definition as OGC API - Features Part 1 asks for it: the items' ``bbox``, ``limit``
and ``datetime`` parameters declared as the standard defines them, and the document also
served as OpenAPI 3.0 (the version of Part 1's ``oas30`` conformance class) at
``/openapi-3.0.json``, converted from the OpenAPI 3.1 document FastAPI writes."""

from __future__ import annotations

import copy
import re
from typing import Any

from fastapi import FastAPI

from service.config import get_settings

OPENAPI_30 = "3.0.3"
_OGC_READS = ("/collections", "/conformance", "/tileMatrixSets")
BAD_REQUEST = {
    "description": "A query parameter the resource does not define, or a value it cannot "
    "take (`detail` says which and why).",
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}
    },
}
_ITEMS = re.compile(r"^/collections/[^/]+/items$")


def part1_parameters() -> dict[str, dict[str, Any]]:
    """``bbox``, ``limit`` and ``datetime`` as OGC API - Features Part 1 defines them."""
    settings = get_settings()
    return {
        "bbox": {
            "name": "bbox",
            "in": "query",
            "required": False,
            "description": "Only features that have a geometry that intersects the bounding "
            "box: lower left corner longitude, latitude, upper right corner longitude, latitude "
            "(WGS 84, or the CRS of `bbox-crs`); 6 numbers with heights are also accepted.",
            "schema": {
                "type": "array",
                "minItems": 4,
                "maxItems": 6,
                "items": {"type": "number"},
            },
            "style": "form",
            "explode": False,
        },
        "limit": {
            "name": "limit",
            "in": "query",
            "required": False,
            "description": "The most features in one page; a larger value is served as the "
            "maximum. Follow the `next` link for the following page.",
            "schema": {
                "type": "integer",
                "minimum": 1,
                "maximum": settings.page_max,
                "default": settings.page_default,
            },
            "style": "form",
            "explode": False,
        },
        "datetime": {
            "name": "datetime",
            "in": "query",
            "required": False,
            "description": "An RFC 3339 instant, or an interval `start/end` with `..` for an "
            "open end, e.g. `2026-01-01T00:00:00Z/..`. Only features whose time (or time span) "
            "meets it.",
            "schema": {"type": "string"},
            "style": "form",
            "explode": False,
        },
    }


def declare_part1_parameters(app: FastAPI) -> None:
    """Declare the items' standard parameters as Part 1 writes them, in the generated document."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        standard = part1_parameters()
        for path, item in schema.get("paths", {}).items():
            operation = item.get("get")
            if operation is None or not (path == "/" or path.startswith(_OGC_READS)):
                continue
            # OGC API answers refused query values with 400, never FastAPI's 422.
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            responses.setdefault("400", BAD_REQUEST)
            if _ITEMS.match(path):
                operation["parameters"] = [
                    standard.get(p.get("name", ""), p) for p in operation.get("parameters", [])
                ]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def as_openapi_30(document: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI 3.1 document written as OpenAPI 3.0: nullable instead of a ``null`` type,
    ``enum`` for ``const``, one ``example``, boolean exclusive bounds, no tuple schemas."""
    converted: dict[str, Any] = _convert(copy.deepcopy(document))
    converted["openapi"] = OPENAPI_30
    converted.pop("webhooks", None)
    converted.pop("jsonSchemaDialect", None)
    info = converted.get("info", {})
    info.pop("summary", None)
    info.get("license", {}).pop("identifier", None)
    return converted


def _is_null(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "null"


def _convert(node: Any) -> Any:
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _convert(value) for key, value in node.items()}
    for key in ("anyOf", "oneOf"):
        options = node.get(key)
        if isinstance(options, list) and any(_is_null(o) for o in options):
            rest = [o for o in options if not _is_null(o)]
            node.pop(key)
            node["nullable"] = True
            if len(rest) == 1:
                only = rest[0]
                if "$ref" in only:
                    node["allOf"] = [only]
                else:
                    node = {**only, **node}
            elif rest:
                node[key] = rest
    kind = node.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        if len(kinds) < len(kind):
            node["nullable"] = True
        node["type"] = kinds[0] if kinds else "string"
    if node.get("type") == "null":
        node.pop("type")
        node["nullable"] = True
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if isinstance(node.get("examples"), list):
        examples = node.pop("examples")
        if examples:
            node["example"] = examples[0]
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = node.get(bound)
        if isinstance(value, int | float) and not isinstance(value, bool):
            node[plain] = value
            node[bound] = True
    if "prefixItems" in node:
        items = node.pop("prefixItems")
        distinct = [i for n, i in enumerate(items) if i not in items[:n]]
        node["items"] = distinct[0] if len(distinct) == 1 else {"anyOf": distinct}
        node.setdefault("minItems", len(items))
    for dropped in ("contentMediaType", "contentEncoding", "$schema", "$id", "$defs"):
        node.pop(dropped, None)
    return node
