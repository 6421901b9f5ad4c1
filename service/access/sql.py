"""The one place where access rules become SQL.

``view(table, principal)`` returns a principal's view of a table: the rows the principal may
see (hidden ones are filtered out in the WHERE clause) and, for each column, the expression the
principal may see (exact, generalised to a coarse cell centre, or NULL). Every output path —
API lists and items, map layers, tiles, exports, analysis, alerts — selects from a view, so it
cannot forget a rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    FromClause,
    Select,
    Table,
    Text,
    and_,
    any_,
    bindparam,
    case,
    exists,
    false,
    func,
    literal,
    null,
    or_,
    select,
    true,
)
from sqlalchemy import column as sql_column
from sqlalchemy import table as sql_table
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from service.access.actions import sees_staff_fields
from service.access.policy import (
    ACTION_TABLES,
    CHILD_TABLES,
    CollectionPolicy,
    Principal,
    below,
    floors_for,
    policy_for,
)
from service.config import Settings, get_settings
from service.enums import Classification

KM_PER_DEGREE = 111.32
_INTERNAL = ("deleted_at", "deleted_by")


@dataclass(frozen=True)
class View:
    """What one principal may see of one table."""

    table: Table
    #: Column name -> the expression the principal sees (masked where the policy says).
    columns: dict[str, ColumnElement[object]]
    #: True for rows this principal sees in full.
    exact: ColumnElement[bool]
    #: The WHERE clause that removes hidden rows.
    where: ColumnElement[bool]
    #: Degrees by which a shown geometry may lie from the stored one (0 when never generalised).
    tolerance_deg: float

    def select(self) -> Select[*tuple[Any, ...]]:
        return select(*(expr.label(name) for name, expr in self.columns.items())).where(self.where)

    def column(self, name: str) -> ColumnElement[object]:
        return self.columns[name]


def _levels(
    principal: Principal, policy: CollectionPolicy
) -> tuple[list[Classification], list[Classification]]:
    full = sorted(principal.cleared_for)
    generalised = sorted(
        c
        for c in Classification
        if c not in principal.cleared_for and policy.action(c) == "generalise"
    )
    return full, generalised


def row_filter(
    table: Table, principal: Principal, settings: Settings | None = None, *, live: bool = True
) -> ColumnElement[bool]:
    """Rows of ``table`` that the principal may see at all (exactly or generalised); with
    ``live=False`` also deleted rows that they would see were they not deleted."""
    settings = settings or get_settings()
    policy = policy_for(table.name, settings.policies)
    full, generalised = _levels(principal, policy)
    shown = _one_of(table.c.classification, full + generalised)
    owned = _owned(table, principal, policy)
    conditions: list[ColumnElement[bool]] = [shown if owned is None else or_(shown, owned)]
    if principal.role in policy.unverified_hidden_for:
        verified = table.c.verification_state == literal("verified")
        conditions.append(verified if owned is None else or_(verified, owned))
    if live:
        conditions.insert(0, table.c.deleted_at.is_(None))
    if principal.sector_scope is not None:
        scope_column = table.c.id if table.name == "sectors" else table.c.sector_id
        if principal.sector_scope:
            scope = bindparam(
                None, sorted(principal.sector_scope), type_=ARRAY(UUID(as_uuid=True)), unique=True
            )
            conditions.append(scope_column == any_(scope))
        else:
            conditions.append(false())
    return and_(*conditions)


def parts_filter(
    table: Table,
    principal: Principal,
    parts: dict[str, ColumnElement[Any]],
    settings: Settings | None = None,
) -> ColumnElement[bool]:
    """``row_filter`` of ``table`` read from a table of counts kept per part of it (such as
    ``service.layers.groups``): ``parts`` names, for each column of ``table`` the rule reads,
    the column of the counts holding it; the counts are of live records only. Refuses a table
    whose rule reads a column the counts do not keep."""
    from sqlalchemy.sql.visitors import replacement_traverse

    condition = row_filter(table, principal, settings)

    def replace(element: Any, **_: Any) -> Any:
        if getattr(element, "table", None) is not table:
            return None
        if element.name == "deleted_at":
            return null()
        if element.name not in parts:
            raise ValueError(f"{table.name}.{element.name} is not kept by part")
        return parts[element.name]

    adapted: ColumnElement[bool] = replacement_traverse(condition, {}, replace)
    return adapted


def _one_of(column: ColumnElement[Any], values: list[Classification]) -> ColumnElement[bool]:
    """``column IN (values)`` as ``column = ANY(array)``: one parameter, which SQLAlchemy need
    not expand into the statement at each execution (a tenth of a map tile's time in Python)."""
    array = bindparam(None, [str(v.value) for v in values], type_=ARRAY(Text()), unique=True)
    return column == any_(array)


def within_scope(geometry: ColumnElement[Any], principal: Principal) -> ColumnElement[bool]:
    """Whether the WHOLE geometry lies in the principal's sectors (their union, boundaries
    included); always true for a principal of the whole mission. A record's sector is that of
    one point on its surface, so only this keeps a writer's records inside their sectors."""
    if principal.sector_scope is None:
        return true()
    if not principal.sector_scope:
        return false()
    from service.sectors.models import Sector

    sectors = Sector.__table__
    scope = bindparam(
        None, sorted(principal.sector_scope), type_=ARRAY(UUID(as_uuid=True)), unique=True
    )
    area = (
        select(func.ST_Union(sectors.c.geom))
        .where(sectors.c.id == any_(scope), sectors.c.deleted_at.is_(None))
        .scalar_subquery()
    )
    return func.coalesce(func.ST_CoveredBy(geometry, area), false())


def below_floor(
    collection: str,
    category: ColumnElement[Any],
    classification: ColumnElement[Any],
    settings: Settings | None = None,
) -> dict[Classification, ColumnElement[bool]]:
    """Per floor: rows whose classification is below the floor of their category."""
    settings = settings or get_settings()
    by_floor: dict[Classification, list[str]] = {}
    for name, floor in floors_for(collection, settings.category_floors).items():
        by_floor.setdefault(floor, []).append(name)
    return {
        floor: and_(category.in_(names), classification.in_([c.value for c in below(floor)]))
        for floor, names in by_floor.items()
    }


def floored(
    collection: str,
    category: ColumnElement[Any],
    classification: ColumnElement[Any],
    settings: Settings | None = None,
) -> ColumnElement[Any]:
    """The classification raised to the floor of the category where it is below it."""
    cases = below_floor(collection, category, classification, settings)
    if not cases:
        return classification
    return case(
        *((condition, literal(floor.value)) for floor, condition in cases.items()),
        else_=classification,
    )


#: The counters behind the data versions a principal is shown (migration a19b03c0d0e3): one
#: per collection, classification, sector and owning actor, bumped by each write of a record in
#: that part, before or after the write.
LAYER_VERSION_PARTS = sql_table(
    "layer_version_parts",
    sql_column("collection", Text()),
    sql_column("classification", Text()),
    sql_column("sector_id", UUID(as_uuid=True)),
    sql_column("owner_id", UUID(as_uuid=True)),
    sql_column("version", BigInteger()),
)


def data_version(
    table: Table, principal: Principal, settings: Settings | None = None
) -> Select[tuple[int]]:
    """The data version of ``table`` as ``principal`` may know it: the sum of the counters of
    the parts holding records the principal may see (the same rules as ``row_filter``), so it
    moves with every change the principal can see and with no other."""
    settings = settings or get_settings()
    policy = policy_for(table.name, settings.policies)
    full, generalised = _levels(principal, policy)
    parts = LAYER_VERSION_PARTS
    shown: ColumnElement[bool] = parts.c.classification.in_(full + generalised)
    if policy.owner_column is not None and principal.actor_id is not None:
        shown = or_(
            shown,
            and_(
                parts.c.owner_id == principal.actor_id,
                parts.c.classification != Classification.restricted.value,
            ),
        )
    conditions = [parts.c.collection == table.name, shown]
    if principal.sector_scope is not None:
        scope = bindparam(
            None, sorted(principal.sector_scope), type_=ARRAY(UUID(as_uuid=True)), unique=True
        )
        conditions.append(parts.c.sector_id == any_(scope))
    return select(func.coalesce(func.sum(parts.c.version), 0)).where(*conditions)


#: Views already built, by table and principal (a principal is immutable: a change to a user or
#: key makes a new one). Each entry holds what it was built from: the settings object, its
#: policies and the generalisation cell, so that a change to any of them builds the view again.
_VIEWS: dict[tuple[Table, Principal], tuple[Settings, object, float, View]] = {}
_VIEWS_MAX = 4096


def view(table: Table, principal: Principal, settings: Settings | None = None) -> View:
    """The principal's view of ``table``; see the module docstring. Built once per table,
    principal and settings: every request of a map session asks for the same views."""
    settings = settings or get_settings()
    key = (table, principal)
    known = _VIEWS.get(key)
    if (
        known is not None
        and known[0] is settings
        and known[1] is settings.policies
        and known[2] == settings.generalise_cell_km
    ):
        return known[3]
    built = _build_view(table, principal, settings)
    if len(_VIEWS) >= _VIEWS_MAX:
        _VIEWS.clear()
    _VIEWS[key] = (settings, settings.policies, settings.generalise_cell_km, built)
    return built


def _build_view(table: Table, principal: Principal, settings: Settings) -> View:
    policy = policy_for(table.name, settings.policies)
    full, generalised = _levels(principal, policy)
    cell_deg = settings.generalise_cell_km / KM_PER_DEGREE
    coarse_always = principal.role in policy.coarse_location_for
    exact: ColumnElement[bool] = _one_of(table.c.classification, full) if generalised else true()
    owned = _owned(table, principal, policy)
    if generalised and owned is not None:
        exact = or_(exact, owned)
    sees_everything = len(full) == len(Classification) and principal.sector_scope is None

    columns: dict[str, ColumnElement[object]] = {}
    for column in table.c:
        if column.name in _INTERNAL:
            continue
        expr: ColumnElement[object] = column
        needed = policy.min_role.get(column.name)
        if needed is not None and not principal.at_least(needed):
            expr = null().cast(column.type)
        elif column.name in policy.identifying and (coarse_always or generalised):
            # A coarse location is all a reader may learn of the place: nothing that finds it.
            hidden = null().cast(column.type)
            expr = hidden if coarse_always else case((exact, column), else_=hidden)
        elif isinstance(column.type, Geometry):
            coarse = func.civop_generalise(column, literal(cell_deg))
            if coarse_always:
                expr = coarse
            elif generalised:
                expr = case((exact, column), else_=coarse)
        elif column.name in policy.sensitive and generalised:
            expr = case((exact, column), else_=null().cast(column.type))
        if column.foreign_keys and not sees_everything:
            expr = _mask_reference(column, expr, principal, settings)
        columns[column.name] = expr
    shown_coarse: ColumnElement[Any] = true() if coarse_always else ~exact
    columns["generalised"] = shown_coarse
    return View(
        table=table,
        columns=columns,
        exact=exact,
        where=row_filter(table, principal, settings),
        tolerance_deg=cell_deg if (coarse_always or generalised) else 0.0,
    )


def view_children(
    child: Table, parent: Table, principal: Principal, settings: Settings | None = None
) -> Select[Any]:
    """The rows of ``child`` (a child table of ``parent``'s collection, declared in
    ``CHILD_TABLES``) the principal may read: those of parents they see in full, with the staff
    fields removed for roles below analyst."""
    declared = CHILD_TABLES[child.name]
    assert declared.parent == parent.name, (child.name, parent.name)
    staff = sees_staff_fields(principal)
    columns = [
        c if staff or c.name not in declared.staff else null().cast(c.type).label(c.name)
        for c in child.c
    ]
    return select(*columns).where(
        child.c[declared.key].in_(
            select(parent.c.id).where(seen_in_full(parent, principal, settings=settings))
        )
    )


def seen_in_full(
    table: Table,
    principal: Principal,
    *,
    live: bool = True,
    alias: FromClause | None = None,
    settings: Settings | None = None,
) -> ColumnElement[bool]:
    """Rows of ``table`` (or of ``alias``, an alias of it) that the principal sees in full: not
    hidden and not generalised. These are the records a writer may change, and the only ones
    whose keys their writes are checked and matched against (``service.core.keys``);
    ``live=False`` adds the deleted ones they would see so."""
    settings = settings or get_settings()
    built = view(table, principal, settings)
    condition = and_(row_filter(table, principal, settings, live=live), built.exact)
    if alias is None:
        return condition
    from sqlalchemy.sql.util import ClauseAdapter

    adapted: ColumnElement[bool] = ClauseAdapter(alias).traverse(condition)
    return adapted


def read_table(table: Table, principal: Principal) -> None:
    """Refuse (``Forbidden``) a principal who may not read ``table``, one of the tables read
    whole by who may take an action (``service.access.policy.ACTION_TABLES``)."""
    from service.access.actions import authorize

    authorize(principal, ACTION_TABLES[table.name])


def _owned(
    table: Table, principal: Principal, policy: CollectionPolicy
) -> ColumnElement[bool] | None:
    """Rows that belong to the principal's own actor (never restricted ones)."""
    if policy.owner_column is None or principal.actor_id is None:
        return None
    return and_(
        table.c[policy.owner_column] == principal.actor_id,
        table.c.classification != Classification.restricted.value,
    )


def _mask_reference(
    column: ColumnElement[object],
    expr: ColumnElement[object],
    principal: Principal,
    settings: Settings,
) -> ColumnElement[object]:
    """A reference to a record the principal may not see would leak that record's id."""
    (fk,) = column.foreign_keys
    target = fk.column.table
    if not isinstance(target, Table):
        return expr
    alias = target.alias(f"ref_{target.name}")
    condition = exists(
        select(literal(1))
        .select_from(alias)
        .where(alias.c.id == column, _aliased_filter(alias, target, principal, settings))
    )
    # An empty reference (most are) is not looked up: PostgreSQL stops at the first false.
    return case((and_(column.is_not(None), condition), expr), else_=null().cast(column.type))


def _aliased_filter(
    alias: FromClause, target: Table, principal: Principal, settings: Settings
) -> ColumnElement[bool]:
    from sqlalchemy.sql.util import ClauseAdapter

    return ClauseAdapter(alias).traverse(row_filter(target, principal, settings))
