"""Declarative base and the columns every record shares: identity, provenance, classification,
who/when, soft delete, and the geometry checks."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import CheckConstraint, DateTime, Index, MetaData, Text, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from service.enums import Classification

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}

#: Who is acting, set per transaction by the service (``SET LOCAL civop.actor``).
CURRENT_ACTOR = "coalesce(current_setting('civop.actor', true), session_user)"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def enum_check(column: str, enum: type[StrEnum]) -> CheckConstraint:
    values = ", ".join(f"'{member.value}'" for member in enum)
    return CheckConstraint(f"{column} IN ({values})", name=f"{column}_allowed")


def geometry_checks(column: str = "geom", *types: str) -> list[CheckConstraint]:
    """Valid, inside the WGS 84 range and, for mixed columns, one of the allowed types."""
    checks = [
        CheckConstraint(
            f"ST_IsValid({column}) AND NOT ST_IsEmpty({column}) "
            f"AND ST_XMin({column}) >= -180 AND ST_XMax({column}) <= 180 "
            f"AND ST_YMin({column}) >= -90 AND ST_YMax({column}) <= 90",
            name=f"{column}_valid",
        )
    ]
    if types:
        allowed = ", ".join(f"'ST_{t}'" for t in types)
        checks.append(
            CheckConstraint(f"ST_GeometryType({column}) IN ({allowed})", name=f"{column}_type")
        )
    return checks


def point_or_area() -> Any:
    return Geometry("GEOMETRY", srid=4326, spatial_index=True)


class Record:
    """Columns shared by every domain table."""

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    #: The system an external id belongs to (``api``, ``acled``, ``dtm``, ``demo`` ...). The key
    #: (origin, external_id) is unique among the records each writer sees in full, which the
    #: service keeps (``service.core.keys``): a unique constraint would tell a writer
    #: that a record hidden from them holds it.
    origin: Mapped[str] = mapped_column(Text, server_default=text("'api'"))
    external_id: Mapped[str | None] = mapped_column(Text)
    classification: Mapped[Classification] = mapped_column(Text, server_default=text("'mission'"))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    created_by: Mapped[str] = mapped_column(Text, server_default=text(CURRENT_ACTOR))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    updated_by: Mapped[str] = mapped_column(Text, server_default=text(CURRENT_ACTOR))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_by: Mapped[str | None] = mapped_column(Text)

    @declared_attr.directive
    @classmethod
    def __table_args__(cls) -> tuple[Any, ...]:
        name = f"ix_{cls.__tablename__}_origin_external_id"  # type: ignore[attr-defined]
        return (
            Index(name, "origin", "external_id"),
            enum_check("classification", Classification),
            *cls.__extra_args__(),
        )

    @classmethod
    def __extra_args__(cls) -> list[Any]:
        return []
