"""The record page of every collection (what the map's popup opens): the fields the user may
see, a small map of the geometry, the history the user may read, and the actions the service
says the user may take (``records.get_feature``'s ``actions``), nothing re-decided here."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response

from service.access.policy import Principal
from service.audit import service as audit
from service.auth.deps import PrincipalDep
from service.collections.registry import collection_named
from service.core import records
from service.core.collection import Collection
from service.db import SessionDep
from service.i18n import N_, _
from service.projects import service as projects
from service.requests import service as assistance_requests
from service.viewer.messages import MESSAGES
from service.viewer.styles import label as value_label
from service.workspace import pages
from service.workspace.times import local_text

router = APIRouter(include_in_schema=False)

#: Reached from the map and from the other areas' lists: no entry of its own.
NAV: list[Any] = []

#: What each action's button says.
ACTION_LABELS = {
    "edit": N_("Correct"),
    "delete": N_("Delete"),
    "transition": N_("Change status"),
    "review": N_("Review"),
    "decide": N_("Decide"),
    "complete": N_("Record completion"),
    "delivered_by_other": N_("Delivered by another actor"),
    "withdraw": N_("Withdraw"),
    "verify": N_("Verify"),
    "discredit": N_("Discredit"),
}
#: Properties shown elsewhere on the page or meaningless to a reader.
NOT_LISTED = {"generalised"}


def action_pages() -> dict[tuple[str, str], str]:
    """The workspace page of each (collection, action), as the areas declare them
    (``PAGES``; ``{id}`` stands for the record's id)."""
    from service.workspace import AREAS  # the package lists the areas

    return {key: url for area in AREAS for key, url in getattr(area, "PAGES", {}).items()}


def field_label(collection: str, name: str) -> str:
    known = MESSAGES.get(f"record.{collection}.{name}")
    return _(known or (name.replace("_", " ")[:1].upper() + name.replace("_", " ")[1:]))


def shown_value(name: str, value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, int | float):
        return f"{value:,}"
    if isinstance(value, list | dict):
        return ", ".join(str(v) for v in value) if isinstance(value, list) else json.dumps(value)
    if name.endswith("_at"):
        return local_text(str(value))
    if name in ("category", "classification", "location_precision", "status", "kind", "state"):
        return _(value_label(str(value)))
    return str(value)


def record_title(collection: Collection, properties: dict[str, Any]) -> str:
    for name in ("name", "title"):
        if properties.get(name):
            return str(properties[name])
    if properties.get("category"):
        when = local_text(properties.get("occurred_at"))
        category = _(value_label(str(properties["category"])))
        return f"{category}, {when}" if when else category
    return _(MESSAGES.get(f"record.{collection.name}", collection.title))


@dataclass(frozen=True)
class HistoryItem:
    at: str
    who: str
    what: str
    detail: str = ""


async def history(
    session: SessionDep,
    collection: Collection,
    principal: Principal,
    record_id: uuid.UUID,
    *,
    exact: bool,
) -> list[HistoryItem]:
    """The record's history as the user may read it: a project's statuses and a request's
    steps (their services decide who reads them, for records seen in full), and the audit
    trail for its readers."""
    items: list[HistoryItem] = []
    if collection.name == "projects" and exact:
        for s in (await projects.history(session, principal, record_id)).history:
            what = _("Status: {status}", status=_(value_label(s.to_status.value)))
            items.append(
                HistoryItem(local_text(s.changed_at), s.changed_by or "", what, s.reason or "")
            )
    if collection.name == "assistance_requests" and exact:
        for e in (await assistance_requests.history(session, principal, record_id)).history:
            what = _(
                "{step}: {status}",
                step=_(value_label(e.step.value)),
                status=_(value_label(e.to_status.value)),
            )
            items.append(
                HistoryItem(local_text(e.happened_at), e.decided_by or "", what, e.reason or "")
            )
    if audit.may_read(principal):
        for entry in await audit.entries(session, principal, record=record_id, limit=50):
            items.append(HistoryItem(local_text(entry.at), entry.actor, *_audit_text(entry)))
    items.sort(key=lambda i: i.at, reverse=True)
    return items


def _audit_text(entry: Any) -> tuple[str, str]:
    before, after = entry.before or {}, entry.after or {}
    if entry.record_ids is not None:
        return _("Created by an import"), entry.context or ""
    if not before:
        return _("Created"), ""
    if after.get("deleted_at") and not before.get("deleted_at"):
        return _("Deleted"), ""
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    changed = [k for k in changed if k not in ("updated_at", "version")]
    return _("Changed"), ", ".join(changed)


@router.get("/workspace/records/{collection_name}/{record_id}")
async def record_page(
    request: Request,
    collection_name: str,
    record_id: uuid.UUID,
    principal: pages.PagePrincipal,
    session: SessionDep,
) -> Response:
    if principal is None:
        return pages.shell(request, "records/record.html")
    collection = collection_named(collection_name)
    feature = json.loads(await records.get_feature(session, collection, principal, record_id))
    properties: dict[str, Any] = feature.get("properties") or {}
    # The schema's order (what, when, how bad, ...), then what the service adds (who, when).
    order = {name: i for i, name in enumerate(collection.properties.model_fields)}
    fields = [
        (field_label(collection.name, name), shown_value(name, value))
        for name, value in sorted(properties.items(), key=lambda kv: order.get(kv[0], len(order)))
        if name not in NOT_LISTED and value not in (None, "", [])
    ]
    links = action_pages()
    actions = [
        {
            "name": action,
            "label": _(ACTION_LABELS.get(action, action)),
            "href": links.get((collection.name, action), "").replace("{id}", str(record_id)),
        }
        for action in feature.get("actions", [])
    ]
    return pages.render(
        request,
        "records/record.html",
        {
            "collection": collection,
            "kind": _(MESSAGES.get(f"record.{collection.name}", collection.title)),
            "title": record_title(collection, properties),
            "feature": feature,
            "generalised": bool(properties.get("generalised")),
            "fields": fields,
            "actions": actions,
            "history": await history(
                session,
                collection,
                principal,
                record_id,
                exact=not properties.get("generalised"),
            ),
            "audit_readable": audit.may_read(principal),
        },
    )


@router.delete("/workspace/records/{collection_name}/{record_id}")
async def delete_record(
    request: Request,
    collection_name: str,
    record_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
) -> Response:
    """Delete through the same service as the API (``records.delete_feature``)."""
    collection = collection_named(collection_name)
    await records.delete_feature(session, collection, principal, record_id)
    return pages.fragment(
        request,
        "records/deleted.html",
        {"kind": _(MESSAGES.get(f"record.{collection.name}", collection.title))},
    )
