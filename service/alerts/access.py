"""Who may see an alert: only a principal who sees, in full, every record that raised it.

An alert's visibility is the most restrictive of its records' (``alerts.classification``), and
then each record is checked through ``service.access.sql.view``: a record hidden from the
principal, or shown only generalised (which would put its exact place back on the map as the
alert's area), or outside the principal's sectors, hides the alert. So a partner never learns
of a restricted incident, or the exact place of a generalised site, through an alert.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Table, and_, exists, false, literal, not_, or_, select

from service.access.policy import Principal, policy_for
from service.access.sql import view
from service.alerts.models import Alert, AlertRecord
from service.collections.registry import COLLECTIONS
from service.config import get_settings
from service.enums import Classification

ALERTS: Table = Alert.__table__  # type: ignore[assignment]
ALERT_RECORDS: Table = AlertRecord.__table__  # type: ignore[assignment]


def sees_in_full(table: Table, principal: Principal) -> ColumnElement[bool]:
    """Rows of ``table`` the principal sees exactly (not hidden, not generalised)."""
    settings = get_settings()
    v = view(table, principal, settings)
    condition = and_(v.where, v.exact)
    if principal.role in policy_for(table.name, settings.policies).coarse_location_for:
        return false()
    return condition


def sees_every_alert(principal: Principal) -> bool:
    """Whether the principal sees every alert there is: then the alerts' running numbers tell
    them nothing; anyone else would count, in the gaps between them, the alerts hidden from
    them (raised by restricted incidents among others)."""
    return len(principal.cleared_for) == len(Classification) and principal.sector_scope is None


def alert_visible(principal: Principal) -> ColumnElement[bool]:
    """The alerts (``alerts`` table) this principal may see."""
    records = ALERT_RECORDS
    seen = []
    for name, collection in COLLECTIONS.items():
        table = collection.table
        seen.append(
            and_(
                records.c.collection == name,
                exists(
                    select(literal(1))
                    .select_from(table)
                    .where(table.c.id == records.c.record_id, sees_in_full(table, principal))
                ),
            )
        )
    hidden_record = exists(
        select(literal(1))
        .select_from(records)
        .where(records.c.alert_id == ALERTS.c.id, not_(or_(*seen)))
    )
    cleared = ALERTS.c.classification.in_(sorted(principal.cleared_for))
    return and_(cleared, not_(hidden_record))
