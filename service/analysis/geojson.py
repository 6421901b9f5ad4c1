"""The analyses' answers: GeoJSON FeatureCollections with ``summary`` and ``parameters``,
serialised by orjson."""

from __future__ import annotations

import uuid
from dataclasses import asdict, is_dataclass
from typing import Any

import numpy as np
import orjson
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------


def round_km(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 3)


def rounded(value: Any, digits: int = 6) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return None if not np.isfinite(value) else round(float(value), digits)
    return value


def _default(value: Any) -> Any:
    if isinstance(value, uuid.UUID):  # asyncpg's own UUID type, which orjson does not know
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _geojson(shape: BaseGeometry) -> dict[str, Any]:
    if shape.geom_type == "Point":  # most features: skip the general (slower) path
        return {"type": "Point", "coordinates": [shape.x, shape.y]}
    return dict(mapping(shape))


def feature(
    feature_id: Any, geometry: BaseGeometry | dict[str, Any] | None, properties: dict[str, Any]
) -> dict[str, Any]:
    shape = _geojson(geometry) if isinstance(geometry, BaseGeometry) else geometry
    return {
        "type": "Feature",
        "id": str(feature_id) if feature_id is not None else None,
        "geometry": shape,
        "properties": properties,
    }


def feature_collection(
    features: list[dict[str, Any]], summary: dict[str, Any], parameters: dict[str, Any]
) -> str:
    """The answer: a GeoJSON FeatureCollection with ``summary`` and ``parameters``."""
    body = {
        "type": "FeatureCollection",
        "features": features,
        "summary": summary,
        "parameters": parameters,
    }
    encoded: bytes = orjson.dumps(
        body,
        default=_default,
        option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z,
    )
    return encoded.decode()
