"""Reading and writing records of any collection. Reads select from the principal's view
(``service.access``) and build GeoJSON in PostgreSQL; writes check the input, record who acted
and leave the audit to the database triggers."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import shapely
from geoalchemy2 import Geometry
from pydantic import BaseModel
from sqlalchemy import (
    JSON,
    ColumnElement,
    Float,
    LargeBinary,
    Select,
    Table,
    Text,
    and_,
    cast,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from geo.validation import GeometryProblem, check_geometry
from service.access import actions
from service.access.actions import authorize
from service.access.policy import Principal, floor_above, policy_for
from service.access.sql import View, row_filter, view, within_scope
from service.audit import trail
from service.config import get_settings
from service.core import dates, keys
from service.core.collection import Collection
from service.core.crs import CRS84, Crs
from service.core.params import Cursor, ListQuery, encode_cursor
from service.db import without_parallel_workers
from service.errors import Conflict, Forbidden, InvalidInput, NotFound, constraint_of
from service.i18n import _

#: Coordinates in responses: 7 decimals, about 1 cm.
PRECISION = 7
#: Lists count their matches up to this many (numberMatched); above it they do not say, as
#: OGC API - Features allows, and give ``next`` links. Counting is reading every match: on 1M
#: incidents 1,000 take about 2 ms, 10,000 about 45 ms and 100,000 half a second, for a page
#: that costs 1-2 ms.
COUNT_BOUND = 1_000
#: Above this many matches of a box, a page is picked by walking the time index (see
#: ``list_features``); below it, from the point index.
DENSE_PAGE = 5_000


@dataclass(frozen=True)
class Page:
    features: list[str]
    next_cursor: str | None
    prev_cursor: str | None = None
    #: How many records match in all, counted for the first page only (later pages skip the cost).
    matched: int | None = None


def feature_json(
    rows: Any, geometry: str = "geom", leave_out: tuple[str, ...] = (), crs: Crs = CRS84
) -> ColumnElement[str]:
    """One GeoJSON Feature per row of a subquery, as text built by PostgreSQL; its geometry in
    ``crs`` (transformed by PostGIS, in the axis order the CRS defines).

    The properties are named one by one rather than taken from ``to_jsonb(row)``: that would
    also convert the geometry to JSON through PostGIS's cast (about 50 us a row) only for it to
    be dropped again."""
    pairs: list[Any] = []
    for column in rows.c:
        if column.name in (geometry, "id") or column.name in leave_out:
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


#: Point collections with a GiST index on ``point(ST_X(geom), ST_Y(geom))`` that carries the
#: columns their tiles and pages read (migration c29a01d0e0f1): their bbox filter is written as
#: that expression, so tiles, heat tiles and the choice of a page read the index alone.
POINT_INDEXED = frozenset({"incidents"})


def point_indexed(v: View, collection: Collection) -> bool:
    """Whether a bbox on ``v`` can be answered from the collection's point index: the
    collection has one and the principal is shown the stored geometry itself."""
    return collection.name in POINT_INDEXED and v.column("geom") is v.table.c.geom


def point_in_box(
    geometry: ColumnElement[Any], bbox: tuple[Any, Any, Any, Any]
) -> ColumnElement[bool]:
    """A point inside or on the edge of ``bbox``: what ``ST_Intersects`` says of a point and an
    envelope, compared in double precision, in the form the point index serves. The bounds are
    numbers or bound parameters (a statement prepared once for every tile)."""
    min_x, min_y, max_x, max_y = (
        value if isinstance(value, ColumnElement) else literal(value, Float()) for value in bbox
    )
    point = func.point(func.ST_X(geometry), func.ST_Y(geometry))
    return point.op("<@")(func.box(func.point(min_x, min_y), func.point(max_x, max_y)))


def apply_filters(v: View, collection: Collection, query: ListQuery) -> list[ColumnElement[bool]]:
    """The list filters, on what the principal sees (a generalised record is found by its
    generalised location, never by the exact one)."""
    conditions: list[ColumnElement[bool]] = []
    table = v.table
    if query.bbox is not None and point_indexed(v, collection):
        conditions.append(point_in_box(table.c.geom, query.bbox))
    elif query.bbox is not None:
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
    """One page of features, newest first, with keyset cursors to the pages around it.

    The page's records are picked first by their keys alone (an order the indexes serve:
    the order column and id, with the filters and the access rules on the stored row), and
    only those are then read through the principal's view: masked references and generalised
    places cost their subqueries for the page, not for every match a sort goes through."""
    v = view(collection.table, principal)
    table = v.table
    order = table.c[collection.order]
    conditions = apply_filters(v, collection, query)
    cursor = query.cursor
    backward = cursor is not None and cursor.backward
    if cursor is not None:
        position = tuple_(cast(literal(cursor.order_value), order.type), cursor.record_id)
        keys = tuple_(order, table.c.id)
        conditions.append(keys > position if backward else keys < position)
    ordering = (order.asc(), table.c.id.asc()) if backward else (order.desc(), table.c.id.desc())
    picked = (
        select(table.c.id.label("picked_id"), order.label("picked_order"))
        .where(v.where, *conditions)
        .order_by(*ordering)
        .limit(query.limit + 1)
        .subquery("picked")
    )
    in_order = (
        (picked.c.picked_order.asc(), picked.c.picked_id.asc())
        if backward
        else (picked.c.picked_order.desc(), picked.c.picked_id.desc())
    )
    facts = _action_facts(v, collection, principal)
    rows = (
        v.select()
        .add_columns(*(e.label(n) for n, e in facts.items()))
        .select_from(table.join(picked, picked.c.picked_id == table.c.id))
        .order_by(*in_order)
        .subquery("r")
    )
    counted: int | None = None
    dense = False
    by_points = query.bbox is not None and point_indexed(v, collection)
    if not by_points:
        # A page walks an index and stops at the limit: parallel workers would only add their
        # start-up (about 20 ms, ten times the page itself on 1M incidents). A box of the
        # point index is never planned with them (see ``dense`` below for the time index).
        await without_parallel_workers(session)
    else:
        # Which index serves the page depends on how many records match, which the planner
        # cannot estimate for a box (a fixed guess of about a thousand): counted from the point
        # index up to a bound (about 2 ms), it decides. Few matches: read them all from the
        # point index and keep the newest (under 3 ms for 5,000). Many: walk the time index
        # newest first until the page is full, which takes fewer steps the more match.
        bound = max(DENSE_PAGE, COUNT_BOUND)
        counted = await _count_up_to(session, table, v, conditions, bound)
        dense = counted > DENSE_PAGE
    if dense:
        # The time index, newest first, without workers (and the planner told not to sort: its
        # guess of a thousand matches would have it read them all from the point index).
        await session.execute(
            select(
                func.set_config("max_parallel_workers_per_gather", "0", True),
                func.set_config("enable_sort", "off", True),
            )
        )
    result = await session.execute(
        select(
            feature_json(rows, leave_out=tuple(facts), crs=query.crs),
            cast(rows.c[collection.order], Text),
            rows.c.id,
            *(rows.c[n] for n in facts),
        )
    )
    if dense:
        await session.execute(select(func.set_config("enable_sort", "on", True)))
    fetched = list(result.all())
    more = len(fetched) > query.limit
    fetched = fetched[: query.limit]
    matched = None
    if cursor is None and not more:
        matched = len(fetched)  # the first page holds them all
    elif cursor is None:
        # Counted up to a bound so a first page over millions of rows stays cheap; beyond it
        # numberMatched is left out, as OGC API - Features allows, and the next link leads on.
        if counted is None:
            counted = await _count_up_to(session, table, v, conditions, COUNT_BOUND)
        matched = counted if counted <= COUNT_BOUND else None
    if backward:
        fetched.reverse()
    if not fetched:
        return Page([], None, None, matched)
    first, last = fetched[0], fetched[-1]
    has_next = (more and not backward) or backward
    has_prev = (more and backward) or (cursor is not None and not backward)
    next_cursor = encode_cursor(Cursor(last[1], last[2])) if has_next else None
    prev_cursor = encode_cursor(Cursor(first[1], first[2], backward=True)) if has_prev else None
    # A page's records share a few combinations of the facts: each is judged once (a refusal
    # is worded, in the reader's language, to be judged: on a page of 1,000 that was most of
    # the page's time).
    judged: dict[tuple[Any, ...], list[str]] = {}
    features = []
    for row in fetched:
        values = tuple(row[3:])
        if values not in judged:
            judged[values] = _actions_of(principal, collection, facts, values)
        features.append(with_member(row[0], "actions", judged[values]))
    return Page(features, next_cursor, prev_cursor, matched)


def _in_scope(table: Table, principal: Principal) -> ColumnElement[bool]:
    """Whether a record lies wholly within the principal's sectors (as ``_check_scope`` asks)."""
    if principal.sector_scope is None:
        return true()
    column = table.c.id if table.name == "sectors" else table.c.sector_id
    return and_(column.in_(sorted(principal.sector_scope)), within_scope(table.c.geom, principal))


async def _count_up_to(
    session: AsyncSession,
    table: Table,
    v: View,
    conditions: list[ColumnElement[bool]],
    bound: int,
) -> int:
    """How many visible records meet ``conditions``, counted up to ``bound + 1``."""
    rows_matched = select(literal(1)).select_from(table).where(v.where, *conditions)
    bounded = rows_matched.limit(bound + 1).subquery("matched")
    return int(await session.scalar(select(func.count()).select_from(bounded)) or 0)


def _action_facts(v: View, collection: Collection, principal: Principal) -> dict[str, Any]:
    """What the actions a principal may take on a record depend on, as columns of its row
    (none when their role may take none on this collection): whether they see it in full, it
    lies within their sectors, the actor it belongs to, its state (a request's workflow)."""
    if not actions.offered(principal, collection.name):
        return {}
    table = v.table
    facts: dict[str, ColumnElement[Any]] = {
        "_exact": v.exact,
        "_in_scope": _in_scope(table, principal),
    }
    owner = policy_for(collection.name).owner_column
    if owner is not None:
        facts["_owner"] = table.c[owner]
    facts.update({f"_state_{c}": table.c[c] for c in collection.state_columns})
    return facts


def _actions_of(
    principal: Principal, collection: Collection, facts: dict[str, Any], values: Sequence[Any]
) -> list[str]:
    """The actions ``principal`` may take on a record whose ``facts`` hold ``values``, as the
    action table says (``service.access.actions.record_actions``)."""
    if not facts:
        return []
    fact = dict(zip(facts, values, strict=True))
    state = {c: fact[f"_state_{c}"] for c in collection.state_columns}
    return actions.record_actions(
        principal,
        collection.name,
        exact=bool(fact["_exact"]),
        within_scope=bool(fact["_in_scope"]),
        owner=fact.get("_owner"),
        possible=collection.possible_actions(state) if collection.possible_actions else None,
    )


async def get_feature(
    session: AsyncSession,
    collection: Collection,
    principal: Principal,
    record_id: uuid.UUID,
    crs: Crs = CRS84,
) -> str:
    """One feature as the principal may see it, with the actions they may take on it (an
    ``actions`` member, ``service.access.actions``); hidden and unknown records are alike: 404."""
    v = view(collection.table, principal)
    facts = _action_facts(v, collection, principal)
    statement = v.select().where(v.table.c.id == record_id)
    statement = statement.add_columns(*(e.label(n) for n, e in facts.items()))
    rows = statement.subquery("r")
    found = (
        await session.execute(
            select(feature_json(rows, leave_out=tuple(facts), crs=crs), *(rows.c[n] for n in facts))
        )
    ).one_or_none()
    if found is None:
        raise NotFound(_("no such record in {collection}", collection=collection.name))
    return with_member(found[0], "actions", _actions_of(principal, collection, facts, found[1:]))


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
                _(
                    "{field} names no {collection} record that you may see: {value}",
                    field=column.name,
                    collection=target.name,
                    value=value,
                ),
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
            _(
                "the record reaches beyond the sectors you are assigned to; an officer responsible "
                "for the whole area it covers may change it"
            )
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
            _(
                "the geometry reaches beyond the sectors you are assigned to: draw it within them, "
                "or ask an officer responsible for the whole area"
            )
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
            _(
                "{category} records are classified {floor} at least and you are not cleared for {floor} records; ask an officer cleared for them to record this",
                category=category,
                floor=floor,
            ),
        )
    values["classification"] = floor.value
    return [
        f"classification raised from {classification} to {floor}: {category} records are "
        f"classified {floor} at least"
    ]


def with_member(feature: str, name: str, value: Any) -> str:
    """Add a foreign member to a Feature PostgreSQL serialised."""
    return feature[:-1] + f',"{name}":' + json.dumps(value) + "}"


def with_notices(feature: str, notices: list[str]) -> str:
    """Add what the service did beyond what was asked (a foreign member of the Feature)."""
    if not notices:
        return feature
    return with_member(feature, "notices", notices)


def _integrity_problem(error: IntegrityError | DataError, collection: Collection) -> Exception:
    if isinstance(error, DataError):
        return InvalidInput(
            ["body"],
            _("a value cannot be stored: {reason}", reason=str(error.orig).splitlines()[0]),
        )
    name, sqlstate = constraint_of(error)
    table = collection.name
    if name.startswith(f"fk_{table}_"):
        column = name.removeprefix(f"fk_{table}_")
        return InvalidInput(
            ["body", "properties", column],
            _("{column} names a record that does not exist", column=column),
        )
    if name.endswith("_transition"):
        # A workflow trigger refused a change of state; its message names the states allowed.
        cause = getattr(error.orig, "__cause__", None)
        return Conflict(str(getattr(cause, "message", None) or error.orig))
    if name.startswith(f"ck_{table}_geom"):
        return InvalidInput(
            ["body", "geometry"], _("geometry is not valid or outside -180..180 / -90..90")
        )
    if name.startswith(f"ck_{table}_"):
        rule = name.removeprefix(f"ck_{table}_")
        column = rule.rsplit("_", 1)[0]
        return InvalidInput(
            ["body", "properties", column],
            _("{column} breaks the rule {rule}", column=column, rule=rule),
        )
    return InvalidInput(
        ["body"],
        _("the record breaks a database rule ({sqlstate} {name})", sqlstate=sqlstate, name=name),
    )


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
    *,
    fixed: dict[str, Any] | None = None,
) -> tuple[uuid.UUID, str]:
    """Store a new record; returns its id and the feature as the principal sees it. ``fixed``
    holds columns the service sets itself, never a client (a field report's verification state
    and reporting partner, the id its submission was kept under)."""
    authorize(principal, "create", classification=getattr(properties, "classification", None))
    table = collection.table
    values = _write_values(collection, properties, geometry, replace=True)
    values.update(fixed or {})
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
    (``service.core.keys``); records hidden from them do not count. A change takes
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
        raise NotFound(_("no such record in {collection}", collection=collection.name))
    if not exact:
        raise Forbidden(_("you are not cleared for this record and may not change it"))
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
    classification = getattr(properties, "classification", None) if properties else None
    authorize(principal, "edit", classification=classification)
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
    authorize(principal, "delete")
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
