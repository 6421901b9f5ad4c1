"""Reading and writing records of any collection. Reads select from the principal's view
(``service.access``) and build GeoJSON in PostgreSQL; writes check the input, record who acted
and leave the audit to the database triggers."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import shapely
from geoalchemy2 import Geometry
from pydantic import BaseModel
from sqlalchemy import (
    JSON,
    ColumnElement,
    LargeBinary,
    Select,
    Table,
    Text,
    cast,
    func,
    insert,
    literal,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from geo.validation import GeometryProblem, check_geometry
from service.access.policy import Principal, floor_above
from service.access.sql import View, row_filter, view, within_scope
from service.audit import trail
from service.collections import dates, keys
from service.collections.params import Cursor, ListQuery, encode_cursor
from service.collections.registry import Collection
from service.config import get_settings
from service.db import without_parallel_workers
from service.errors import Conflict, Forbidden, InvalidInput, NotFound, constraint_of
from service.layers.crs import CRS84, Crs

#: Coordinates in responses: 7 decimals, about 1 cm.
PRECISION = 7
#: Lists count their matches up to this many (numberMatched); above it they do not say.
COUNT_BOUND = 100_000


@dataclass(frozen=True)
class Page:
    features: list[str]
    next_cursor: str | None
    prev_cursor: str | None = None
    #: How many records match in all, counted for the first page only (later pages skip the cost).
    matched: int | None = None


def feature_json(rows: Any, geometry: str = "geom", crs: Crs = CRS84) -> ColumnElement[str]:
    """One GeoJSON Feature per row of a subquery, as text built by PostgreSQL; its geometry in
    ``crs`` (transformed by PostGIS, in the axis order the CRS defines).

    The properties are named one by one rather than taken from ``to_jsonb(row)``: that would
    also convert the geometry to JSON through PostGIS's cast (about 50 us a row) only for it to
    be dropped again."""
    pairs: list[Any] = []
    for column in rows.c:
        if column.name in (geometry, "id"):
            continue
        value: Any = column
        if isinstance(column.type, Geometry):
            # Other geometries (a sector's HQ) as plain GeoJSON objects, without a crs member.
            value = cast(func.ST_AsGeoJSON(column, PRECISION), JSON)
        pairs.extend((literal(column.name, Text()), value))
    # PostgreSQL functions take at most 100 arguments: 50 properties per object, merged.
    properties: Any = func.jsonb_build_object(*pairs[:100])
    for start in range(100, len(pairs), 100):
        properties = properties.op("||")(func.jsonb_build_object(*pairs[start : start + 100]))
    return cast(
        func.json_build_object(
            literal("type"),
            literal("Feature"),
            literal("id"),
            rows.c.id,
            literal("geometry"),
            # Options 0: no "crs" member (GeoJSON has none; the Content-Crs header names it).
            cast(func.ST_AsGeoJSON(in_crs(rows.c[geometry], crs), crs.decimals, 0), JSON),
            literal("properties"),
            properties,
        ),
        Text,
    )


def in_crs(geometry: Any, crs: Crs) -> Any:
    """A stored (WGS 84) geometry in ``crs``."""
    if crs.srid != 4326:
        geometry = func.ST_Transform(geometry, crs.srid)
    return func.ST_FlipCoordinates(geometry) if crs.lat_first else geometry


def sector_tree(sector_id: uuid.UUID) -> Select[tuple[uuid.UUID]]:
    """A sector and all its sub-areas."""
    from service.sectors.models import Sector

    sectors = Sector.__table__
    tree = select(sectors.c.id).where(sectors.c.id == sector_id).cte("tree", recursive=True)
    tree = tree.union_all(select(sectors.c.id).where(sectors.c.parent_id == tree.c.id))
    return select(tree.c.id)


def apply_filters(v: View, collection: Collection, query: ListQuery) -> list[ColumnElement[bool]]:
    """The list filters, on what the principal sees (a generalised record is found by its
    generalised location, never by the exact one)."""
    conditions: list[ColumnElement[bool]] = []
    table = v.table
    if query.bbox is not None:
        envelope = func.ST_MakeEnvelope(*query.bbox, 4326)
        shown = v.column("geom")
        conditions.append(func.ST_Intersects(shown, envelope))
        if v.tolerance_deg:
            # Necessary condition on the stored geometry so the spatial index is used.
            conditions.append(table.c.geom.op("&&")(func.ST_Expand(envelope, v.tolerance_deg)))
    if query.interval is not None and collection.time is not None:
        start_name, end_name = collection.time
        start = v.column(start_name)
        begin, finish = query.interval
        if finish is not None:
            conditions.append(start <= finish)
        if begin is not None:
            # An instant (incidents) compares directly, so its index serves the filter.
            end = func.coalesce(v.column(end_name), start) if end_name else start
            conditions.append(end >= begin)
    if query.sector is not None:
        column = v.column("id") if table.name == "sectors" else v.column("sector_id")
        conditions.append(column.in_(sector_tree(query.sector)))
    if query.q:
        pattern = "%" + query.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(or_(*(v.column(c).ilike(pattern) for c in collection.text)))
    for name, values in query.filters.items():
        conditions.append(v.column(name).in_(values))
    conditions.extend(build(v) for build in query.where)
    return conditions


async def list_features(
    session: AsyncSession, collection: Collection, principal: Principal, query: ListQuery
) -> Page:
    """One page of features, newest first, with keyset cursors to the pages around it."""
    v = view(collection.table, principal)
    table = v.table
    order = table.c[collection.order]
    conditions = apply_filters(v, collection, query)
    statement = v.select().where(*conditions)
    cursor = query.cursor
    backward = cursor is not None and cursor.backward
    if cursor is not None:
        position = tuple_(cast(literal(cursor.order_value), order.type), cursor.record_id)
        keys = tuple_(order, table.c.id)
        statement = statement.where(keys > position if backward else keys < position)
    ordering = (order.asc(), table.c.id.asc()) if backward else (order.desc(), table.c.id.desc())
    # A page walks the order index and stops at the limit: parallel workers would only add
    # their start-up (about 20 ms, ten times the page itself on 1M incidents). For the count
    # they halve the worst case at one client but cost more than they save on average.
    await without_parallel_workers(session)
    rows = statement.order_by(*ordering).limit(query.limit + 1).subquery("r")
    result = await session.execute(
        select(feature_json(rows, crs=query.crs), cast(rows.c[collection.order], Text), rows.c.id)
    )
    fetched = list(result.all())
    more = len(fetched) > query.limit
    fetched = fetched[: query.limit]
    matched = None
    if cursor is None and not more:
        matched = len(fetched)  # the first page holds them all
    elif cursor is None:
        # Counted up to a bound so a first page over millions of rows stays cheap; beyond it
        # numberMatched is left out, as OGC API - Features allows.
        rows_matched = select(literal(1)).select_from(table).where(v.where, *conditions)
        bounded = rows_matched.limit(COUNT_BOUND + 1).subquery("matched")
        found = int(await session.scalar(select(func.count()).select_from(bounded)) or 0)
        matched = found if found <= COUNT_BOUND else None
    if backward:
        fetched.reverse()
    if not fetched:
        return Page([], None, None, matched)
    first, last = fetched[0], fetched[-1]
    has_next = (more and not backward) or backward
    has_prev = (more and backward) or (cursor is not None and not backward)
    next_cursor = encode_cursor(Cursor(last[1], last[2])) if has_next else None
    prev_cursor = encode_cursor(Cursor(first[1], first[2], backward=True)) if has_prev else None
    return Page([row[0] for row in fetched], next_cursor, prev_cursor, matched)


async def get_feature(
    session: AsyncSession,
    collection: Collection,
    principal: Principal,
    record_id: uuid.UUID,
    crs: Crs = CRS84,
) -> str:
    """One feature as the principal may see it; hidden and unknown records are alike: 404."""
    v = view(collection.table, principal)
    rows = v.select().where(v.table.c.id == record_id).subquery("r")
    found = (await session.execute(select(feature_json(rows, crs=crs)))).scalar_one_or_none()
    if found is None:
        raise NotFound(f"no such record in {collection.name}")
    return found


async def act_as(session: AsyncSession, principal: Principal, context: str | None = None) -> None:
    """Name the actor (and an optional context such as an import job) for this transaction."""
    await session.execute(select(func.set_config("civop.actor", principal.username, True)))
    if context is not None:
        await session.execute(select(func.set_config("civop.context", context, True)))


def _geometry_value(
    geometry: Any, allowed: tuple[str, ...], loc: list[str | int], multi: bool, collection: str
) -> Any:
    settings = get_settings()
    try:
        shape = check_geometry(
            geometry.model_dump(exclude_none=True),
            allowed,
            settings.mission_bbox,
            settings.size_limits(collection),
        )
    except GeometryProblem as problem:
        raise InvalidInput(loc, str(problem)) from problem
    value = func.ST_GeomFromWKB(literal(shapely.to_wkb(shape), LargeBinary()), 4326)
    return func.ST_Multi(value) if multi else value


async def _check_references(
    session: AsyncSession, table: Table, values: dict[str, Any], principal: Principal
) -> None:
    for column in table.c:
        value = values.get(column.name)
        if value is None or not column.foreign_keys:
            continue
        (fk,) = column.foreign_keys
        target = fk.column.table
        assert isinstance(target, Table)
        found = await session.scalar(
            select(target.c.id).where(target.c.id == value, row_filter(target, principal))
        )
        if found is None:
            raise InvalidInput(
                ["body", "properties", column.name],
                f"{column.name} names no {target.name} record that you may see: {value}",
            )


def _write_values(
    collection: Collection, properties: BaseModel | None, geometry: Any, *, replace: bool
) -> dict[str, Any]:
    table = collection.table
    values: dict[str, Any] = {}
    if properties is not None:
        given = properties.model_dump(exclude_unset=not replace)
        for name, value in given.items():
            column = table.c[name]
            if isinstance(column.type, Geometry):
                point = getattr(properties, name)
                values[name] = (
                    None
                    if point is None
                    else _geometry_value(
                        point, ("Point",), ["body", "properties", name], False, collection.name
                    )
                )
            else:
                values[name] = value
    if geometry is not None:
        values["geom"] = _geometry_value(
            geometry,
            collection.geometry_types,
            ["body", "geometry"],
            collection.multi,
            collection.name,
        )
    return values


def _check_clearance(principal: Principal, classification: str | None) -> None:
    if not principal.can_write:
        raise Forbidden("your role may not change records; officers and admins may")
    if classification is not None and classification not in principal.cleared_for:
        raise Forbidden(f"you are not cleared to write {classification} records")


OUTSIDE_SCOPE = "the record lies outside the sectors you are assigned to"


async def _check_scope(
    session: AsyncSession, table: Table, record_id: uuid.UUID, principal: Principal
) -> None:
    """A writer limited to sectors changes only records lying wholly within them."""
    if principal.sector_scope is None:
        return
    column = table.c.id if table.name == "sectors" else table.c.sector_id
    found = (
        await session.execute(
            select(column, within_scope(table.c.geom, principal)).where(table.c.id == record_id)
        )
    ).one_or_none()
    if found is None or found[0] not in principal.sector_scope:
        raise Forbidden(OUTSIDE_SCOPE)
    if not found[1]:
        raise Forbidden(
            "the record reaches beyond the sectors you are assigned to; an officer responsible "
            "for the whole area it covers may change it"
        )


async def _place(
    session: AsyncSession,
    collection: Collection,
    principal: Principal,
    values: dict[str, Any],
    record_id: uuid.UUID | None = None,
) -> None:
    """Check where a written record lies, and file it under the sector its geometry gives.

    A writer limited to sectors writes only geometries lying wholly within them. A record's
    sector follows from its geometry (``civop_sector_at``): a ``sector_id`` the writer gives is
    accepted only when it is that sector, so a record cannot be filed under a sector it does
    not lie in."""
    table = collection.table
    sectored = "sector_id" in table.c
    if "geom" not in values and not (sectored and "sector_id" in values):
        return
    geometry: Any = values.get("geom")
    if geometry is None:
        geometry = select(table.c.geom).where(table.c.id == record_id).scalar_subquery()
    derived: Any = func.civop_sector_at(geometry) if sectored else literal(None)
    within, sector = (
        await session.execute(select(within_scope(geometry, principal), derived))
    ).one()
    if not within:
        raise Forbidden(
            "the geometry reaches beyond the sectors you are assigned to: draw it within them, "
            "or ask an officer responsible for the whole area"
        )
    if not sectored:
        return
    given = values.get("sector_id")
    if given is not None and given != sector:
        raise InvalidInput(
            ["body", "properties", "sector_id"],
            await _sector_disagrees(session, principal, sector),
        )
    values["sector_id"] = sector


async def _sector_disagrees(
    session: AsyncSession, principal: Principal, sector: uuid.UUID | None
) -> str:
    from service.sectors.models import Sector

    fix = "send that sector_id or leave sector_id out (it follows from the geometry)"
    # No sector and a sector the writer may not see get the same answer: two would map out
    # where hidden sectors lie.
    unseen = "the geometry lies in no area of responsibility you may see; leave sector_id out"
    if sector is None:
        return unseen
    sectors: Table = Sector.__table__  # type: ignore[assignment]
    name = await session.scalar(
        select(sectors.c.name).where(sectors.c.id == sector, row_filter(sectors, principal))
    )
    if name is None:
        return unseen
    return f"the geometry lies in the area of responsibility {name} ({sector}); {fix}"


async def _floor(
    session: AsyncSession,
    collection: Collection,
    principal: Principal,
    values: dict[str, Any],
    record_id: uuid.UUID | None = None,
) -> list[str]:
    """Store the record at least at its category's floor (``service.access.policy``).

    A writer cleared for the floor has the record raised to it and is told so (notices); a
    writer who is not is refused, since the record would vanish from their own view."""
    table = collection.table
    if "category" not in table.c or "classification" not in table.c:
        return []
    category, classification = values.get("category"), values.get("classification")
    if record_id is not None and (category is None or classification is None):
        stored = (
            await session.execute(
                select(table.c.category, table.c.classification).where(table.c.id == record_id)
            )
        ).one()
        category = category or stored.category
        classification = classification or stored.classification
    if classification is None:
        return []
    floor = floor_above(collection.name, category, classification, get_settings().category_floors)
    if floor is None:
        return []
    if floor not in principal.cleared_for:
        raise InvalidInput(
            ["body", "properties", "classification"],
            f"{category} records are classified {floor} at least and you are not cleared for "
            f"{floor} records; ask an officer cleared for them to record this",
        )
    values["classification"] = floor.value
    return [
        f"classification raised from {classification} to {floor}: {category} records are "
        f"classified {floor} at least"
    ]


def with_notices(feature: str, notices: list[str]) -> str:
    """Add what the service did beyond what was asked (a foreign member of the Feature)."""
    if not notices:
        return feature
    return feature[:-1] + ',"notices":' + json.dumps(notices) + "}"


def _integrity_problem(error: IntegrityError | DataError, collection: Collection) -> Exception:
    if isinstance(error, DataError):
        return InvalidInput(
            ["body"], f"a value cannot be stored: {str(error.orig).splitlines()[0]}"
        )
    name, sqlstate = constraint_of(error)
    table = collection.name
    if name.startswith(f"fk_{table}_"):
        column = name.removeprefix(f"fk_{table}_")
        return InvalidInput(
            ["body", "properties", column], f"{column} names a record that does not exist"
        )
    if name.endswith("_transition"):
        # A workflow trigger refused a change of state; its message names the states allowed.
        cause = getattr(error.orig, "__cause__", None)
        return Conflict(str(getattr(cause, "message", None) or error.orig))
    if name.startswith(f"ck_{table}_geom"):
        return InvalidInput(
            ["body", "geometry"], "geometry is not valid or outside -180..180 / -90..90"
        )
    if name.startswith(f"ck_{table}_"):
        rule = name.removeprefix(f"ck_{table}_")
        column = rule.rsplit("_", 1)[0]
        return InvalidInput(["body", "properties", column], f"{column} breaks the rule {rule}")
    return InvalidInput(["body"], f"the record breaks a database rule ({sqlstate} {name})")


@asynccontextmanager
async def writing(session: AsyncSession, collection: Collection) -> AsyncIterator[None]:
    """Commit when the block succeeds; otherwise roll back so nothing half-done stays, and
    turn database rule violations into errors that name the field."""
    try:
        yield
        await session.commit()
    except (IntegrityError, DataError) as error:
        await session.rollback()
        raise _integrity_problem(error, collection) from error
    except BaseException:
        await session.rollback()
        raise


async def create_feature(
    session: AsyncSession,
    collection: Collection,
    principal: Principal,
    properties: BaseModel,
    geometry: Any,
) -> tuple[uuid.UUID, str]:
    """Store a new record; returns its id and the feature as the principal sees it."""
    _check_clearance(principal, getattr(properties, "classification", None))
    table = collection.table
    values = _write_values(collection, properties, geometry, replace=True)
    async with writing(session, collection):
        await act_as(session, principal)
        await claim_key(session, table, principal, values)
        await _check_references(session, table, values, principal)
        await _place(session, collection, principal, values)
        notices = await _floor(session, collection, principal, values)
        # Random, never derived from the key: that would say when the key was taken.
        record_id: uuid.UUID = values.setdefault("id", uuid.uuid4())
        await trail.write(
            trail.on_session(session), table, insert(table).values(values), kind="insert"
        )
        await _check_scope(session, table, record_id, principal)
        await dates.check_record(session, table, record_id)
    feature = await get_feature(session, collection, principal, record_id)
    return record_id, with_notices(feature, notices)


async def claim_key(
    session: AsyncSession,
    table: Table,
    principal: Principal,
    values: dict[str, Any],
    record_id: uuid.UUID | None = None,
) -> None:
    """A key given or changed must not be held by another record the writer sees in full
    (``service.collections.keys``); records hidden from them do not count. A change takes
    ``keys.share`` before it first reads the table."""
    if "external_id" not in values and "origin" not in values:
        return
    origin, external_id = values.get("origin"), values.get("external_id")
    if record_id is not None and ("origin" not in values or "external_id" not in values):
        current = (
            await session.execute(
                select(table.c.origin, table.c.external_id).where(table.c.id == record_id)
            )
        ).one()
        origin = values.get("origin", current.origin)
        external_id = values.get("external_id", current.external_id)
    if external_id is None:
        return
    await keys.claim(session, table, principal, origin or "api", external_id, record_id)


async def _editable(
    session: AsyncSession, collection: Collection, principal: Principal, record_id: uuid.UUID
) -> None:
    v = view(collection.table, principal)
    exact = await session.scalar(select(v.exact).where(v.where, v.table.c.id == record_id))
    if exact is None:
        raise NotFound(f"no such record in {collection.name}")
    if not exact:
        raise Forbidden("you are not cleared for this record and may not change it")
    await _check_scope(session, collection.table, record_id, principal)


async def update_feature(
    session: AsyncSession,
    collection: Collection,
    principal: Principal,
    record_id: uuid.UUID,
    properties: BaseModel | None,
    geometry: Any,
    *,
    replace: bool,
) -> str:
    """Replace (PUT) or change (PATCH) a record the principal may see in full."""
    _check_clearance(principal, getattr(properties, "classification", None) if properties else None)
    table = collection.table
    values = _write_values(collection, properties, geometry, replace=replace)
    async with writing(session, collection):
        await act_as(session, principal)
        if "external_id" in values or "origin" in values:
            # Before anything reads the table: an import may hold its keys (and its lock).
            await keys.share(session, table)
        await _editable(session, collection, principal, record_id)
        await _check_references(session, table, values, principal)
        await claim_key(session, table, principal, values, record_id)
        await _place(session, collection, principal, values, record_id)
        notices = await _floor(session, collection, principal, values, record_id)
        if values:
            await trail.write(
                trail.on_session(session),
                table,
                update(table)
                .where(table.c.id == record_id, table.c.deleted_at.is_(None))
                .values(values),
                kind="update",
                targets=[record_id],
            )
            await _check_scope(session, table, record_id, principal)
            await dates.check_record(session, table, record_id, values)
    return with_notices(await get_feature(session, collection, principal, record_id), notices)


async def delete_feature(
    session: AsyncSession, collection: Collection, principal: Principal, record_id: uuid.UUID
) -> None:
    """Soft delete: the record leaves every output; its history stays in the audit log."""
    _check_clearance(principal, None)
    table = collection.table
    async with writing(session, collection):
        await act_as(session, principal)
        await _editable(session, collection, principal, record_id)
        await trail.write(
            trail.on_session(session),
            table,
            update(table)
            .where(table.c.id == record_id, table.c.deleted_at.is_(None))
            .values(deleted_at=func.now(), deleted_by=principal.username),
            kind="update",
            targets=[record_id],
        )
