"""Administration in the browser: users, API keys, alert webhooks and the audit trail.

Every page and form here calls the same use cases as the JSON API (``service.auth.admin``,
``service.alerts.webhooks``, ``service.audit.service``), which ask
:func:`~service.access.actions.authorize` before reading or writing anything: a forged form
posted by someone who is not an admin is refused there (403) and writes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from starlette.datastructures import FormData

from service.access.actions import authorize
from service.access.policy import Principal
from service.alerts import webhooks
from service.audit import service as audit
from service.audit.models import AuditEntry
from service.auth import admin
from service.auth.admin_views import KeyIn, PasswordIn, UserChange, UserIn
from service.auth.deps import PrincipalDep
from service.auth.models import User
from service.collections.registry import COLLECTIONS
from service.db import SessionDep
from service.enums import Role
from service.errors import InvalidInput
from service.i18n import N_, SOURCE_LANGUAGE, _, language_name, languages
from service.workspace import pages
from service.workspace.forms import FormErrors, from_local_input
from service.workspace.nav import NavEntry

router = APIRouter(prefix="/workspace/admin", tags=["Workspace"], include_in_schema=False)

#: The entries of the workspace's navigation, shown to those who may use each page.
NAV = [
    NavEntry(N_("Users"), "/workspace/admin/users", "manage_users"),
    NavEntry(N_("API keys"), "/workspace/admin/keys", "manage_api_keys"),
    NavEntry(N_("Alert webhooks"), "/workspace/admin/webhooks", "manage_webhooks"),
    NavEntry(N_("Audit trail"), "/workspace/admin/audit", "read_audit"),
]

#: Roles as the forms name them, from the least to the most trusted.
ROLE_LABELS = {
    Role.partner: N_("Partner: sees what the mission shares with partners"),
    Role.analyst: N_("Analyst: reads and analyses the mission's picture"),
    Role.officer: N_("Officer: writes records"),
    Role.admin: N_("Admin: runs accounts, keys and webhooks; reads the audit trail"),
}
#: Roles as a list of users names them.
ROLE_NAMES = {
    Role.partner: N_("Partner"),
    Role.analyst: N_("Analyst"),
    Role.officer: N_("Officer"),
    Role.admin: N_("Admin"),
}
#: Collections the audit trail records, besides the records' collections.
ACCOUNT_TABLES = ("users", "api_keys", "alert_webhooks", "site_population")
#: How many audit entries a search shows.
AUDIT_LIMIT = 200
#: How many of the latest changes the audit page shows before a search.
RECENT = 25


def _role_options() -> list[tuple[str, str]]:
    return [(role.value, _(label)) for role, label in ROLE_LABELS.items()]


def form_errors(error: ValidationError | InvalidInput, known: tuple[str, ...]) -> FormErrors:
    """What was wrong, by field, from the API's validation or the service's."""
    detail: list[dict[str, Any]] = (
        error.detail() if isinstance(error, InvalidInput) else list(error.errors())  # type: ignore[arg-type]
    )
    return FormErrors.of(detail, known, fallback=known[0])


def _ids(form: FormData, name: str) -> list[str]:
    return [str(v) for v in form.getlist(name) if str(v)]


@dataclass(frozen=True)
class Answer:
    """What an administration page shows besides its list, after a form was sent: the values
    typed and what was wrong with them (the page answers 422), what was done or what failed, or
    a secret just made (an API key, a form's token), shown this once."""

    values: dict[str, str] | None = None
    errors: FormErrors | None = None
    done: str = ""
    failed: str = ""
    shown_once: dict[str, str] | None = None


#: What an administration page lists and offers besides its form, read anew for each answer.
Listing = Callable[[Request, SessionDep, Principal], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class AdminPage:
    """An administration page: a form that makes something (an API key, a webhook, an intake
    form) above the list of what was made, each with its actions."""

    template: str
    #: The form's values before anything is typed.
    blank: dict[str, str]
    listing: Listing

    async def render(
        self, request: Request, session: SessionDep, principal: Principal, answer: Answer = Answer()
    ) -> HTMLResponse:
        context = {
            **await self.listing(request, session, principal),
            "values": answer.values or self.blank,
            "errors": answer.errors,
            "done": answer.done,
            "failed": answer.failed,
            "shown_once": answer.shown_once,
        }
        status_code = 422 if answer.errors else 200
        return pages.render(request, self.template, context, status_code=status_code)

    def typed(self, form: FormData) -> dict[str, str]:
        """The form's values as sent."""
        return {name: str(form.get(name, "")) for name in self.blank}

    def add_route(self, router: APIRouter, path: str, name: str) -> None:
        """``GET path``: the page; the shell for a browser's plain request."""

        async def page(
            request: Request, session: SessionDep, principal: pages.PagePrincipal
        ) -> Response:
            if principal is None:
                return pages.shell(request, self.template)
            return await self.render(request, session, principal)

        router.add_api_route(path, page, methods=["GET"], name=name, response_class=HTMLResponse)


# Users ------------------------------------------------------------------------------------

USER_FIELDS = ("username", "full_name", "password", "role", "cleared_restricted", "sector_ids",
               "actor_id")  # fmt: skip


def _user_values(form: FormData) -> dict[str, Any]:
    """A user form as the API's body reads it."""
    return {
        "username": str(form.get("username", "")),
        "full_name": str(form.get("full_name", "")).strip() or None,
        "password": str(form.get("password", "")),
        "role": str(form.get("role", "")),
        "cleared_restricted": form.get("cleared_restricted") == "true",
        "sector_ids": _ids(form, "sector_ids"),
        "actor_id": str(form.get("actor_id", "")) or None,
    }


async def _user_choices(session: SessionDep, principal: Principal) -> dict[str, Any]:
    return {
        "roles": _role_options(),
        "sectors": await admin.sectors(session, principal),
        "actors": await admin.actors(session, principal),
    }


async def _users_page(
    request: Request, session: SessionDep, principal: Principal, done: str = ""
) -> HTMLResponse:
    listed = await admin.users(session, principal)
    names = {c.id: c.name for c in await admin.sectors(session, principal)}
    actors = {c.id: c.name for c in await admin.actors(session, principal)}
    rows = [
        {
            "user": u,
            "sectors": [names.get(s, str(s)) for s in u.sector_ids],
            "actor": actors.get(u.actor_id) if u.actor_id else None,
            "role": _(ROLE_NAMES[Role(u.role)]),
        }
        for u in listed
    ]
    return pages.render(
        request, "admin/users.html", {"rows": rows, "done": done, "me": principal},
        headers={"HX-Push-Url": "/workspace/admin/users"} if done else None,
    )  # fmt: skip


@router.get("/users", response_class=HTMLResponse)
async def users_page(
    request: Request, session: SessionDep, principal: pages.PagePrincipal
) -> Response:
    if principal is None:
        return pages.shell(request, "admin/users.html")
    return await _users_page(request, session, principal)


@router.get("/users/new", response_class=HTMLResponse)
async def new_user_page(
    request: Request, session: SessionDep, principal: pages.PagePrincipal
) -> Response:
    if principal is None:
        return pages.shell(request, "admin/user_new.html")
    values: dict[str, Any] = {
        "username": "",
        "full_name": "",
        "role": Role.analyst.value,
        "cleared_restricted": False,
        "sector_ids": [],
        "actor_id": None,
    }
    return pages.render(
        request,
        "admin/user_new.html",
        {"values": values, "errors": None, **await _user_choices(session, principal)},
    )


@router.post("/users", response_class=HTMLResponse)
async def create_user(request: Request, session: SessionDep, principal: PrincipalDep) -> Response:
    form = await request.form()
    values = _user_values(form)
    try:
        body = UserIn.model_validate(values)
        made = await admin.create_user(session, principal, **body.model_dump())
    except (ValidationError, InvalidInput) as error:
        values["password"] = ""  # never sent back to the page
        context = {"values": values, "errors": form_errors(error, USER_FIELDS)}
        context.update(await _user_choices(session, principal))
        return pages.render(request, "admin/user_new.html", context, status_code=422)
    return await _users_page(
        request, session, principal, _("User {name} created.", name=made.username)
    )


async def _user_page(
    request: Request,
    session: SessionDep,
    principal: Principal,
    found: User,
    *,
    values: dict[str, Any] | None = None,
    errors: FormErrors | None = None,
    password_errors: FormErrors | None = None,
    done: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    shown = values or {
        "full_name": found.full_name or "",
        "role": found.role,
        "cleared_restricted": found.cleared_restricted,
        "sector_ids": [str(s) for s in found.sector_ids],
        "actor_id": str(found.actor_id) if found.actor_id else None,
    }
    context = {
        "found": found,
        "values": shown,
        "errors": errors,
        "password_errors": password_errors,
        "done": done,
        "me": principal,
        **await _user_choices(session, principal),
    }
    return pages.render(request, "admin/user.html", context, status_code=status_code)


@router.get("/users/{user_id}", response_class=HTMLResponse)
async def user_page(
    user_id: uuid.UUID, request: Request, session: SessionDep, principal: pages.PagePrincipal
) -> Response:
    if principal is None:
        return pages.shell(request, "admin/user.html")
    found = await admin.user(session, principal, user_id)
    return await _user_page(request, session, principal, found)


@router.post("/users/{user_id}", response_class=HTMLResponse)
async def change_user(
    user_id: uuid.UUID, request: Request, session: SessionDep, principal: PrincipalDep
) -> Response:
    found = await admin.user(session, principal, user_id)
    values = _user_values(await request.form())
    try:
        body = UserChange.model_validate(values)
        found = await admin.change_user(session, principal, user_id, **body.model_dump())
    except (ValidationError, InvalidInput) as error:
        errors = form_errors(error, USER_FIELDS[1:])
        return await _user_page(
            request, session, principal, found, values=values, errors=errors, status_code=422
        )
    return await _user_page(
        request, session, principal, found, done=_("Changes to {name} saved.", name=found.username)
    )


@router.post("/users/{user_id}/password", response_class=HTMLResponse)
async def reset_password(
    user_id: uuid.UUID, request: Request, session: SessionDep, principal: PrincipalDep
) -> Response:
    found = await admin.user(session, principal, user_id)
    form = await request.form()
    try:
        body = PasswordIn.model_validate({"password": str(form.get("password", ""))})
        await admin.reset_password(session, principal, user_id, body.password)
    except (ValidationError, InvalidInput) as error:
        errors = form_errors(error, ("password",))
        return await _user_page(
            request, session, principal, found, password_errors=errors, status_code=422
        )
    done = _("{name} has a new password. Tell them by a channel other than email.",
             name=found.username)  # fmt: skip
    return await _user_page(request, session, principal, found, done=done)


@router.post("/users/{user_id}/{change}", response_class=HTMLResponse)
async def disable_or_enable(
    user_id: uuid.UUID,
    change: str,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
) -> Response:
    if change not in ("disable", "enable"):
        raise InvalidInput(["change"], _("disable or enable"))
    found = await admin.set_disabled(session, principal, user_id, change == "disable")
    done = (
        _("{name} is disabled: their sign-ins and API keys stop working now.",
          name=found.username)
        if found.disabled
        else _("{name} may sign in again.", name=found.username)
    )  # fmt: skip
    return await _user_page(request, session, principal, found, done=done)


# API keys ---------------------------------------------------------------------------------


async def _keys(request: Request, session: SessionDep, principal: Principal) -> dict[str, Any]:
    return {
        "keys": await admin.api_keys(session, principal),
        "usernames": [u.username for u in await admin.users(session, principal) if not u.disabled],
    }


KEYS = AdminPage("admin/keys.html", {"username": "", "name": ""}, _keys)
KEYS.add_route(router, "/keys", "keys_page")


@router.post("/keys", response_class=HTMLResponse)
async def create_key(request: Request, session: SessionDep, principal: PrincipalDep) -> Response:
    values = KEYS.typed(await request.form())
    try:
        body = KeyIn.model_validate(values)
        key_id, key = await admin.create_api_key(
            session, principal, username=body.username, name=body.name
        )
    except (ValidationError, InvalidInput) as error:
        answer = Answer(values=values, errors=form_errors(error, ("username", "name")))
    else:
        answer = Answer(shown_once={"id": str(key_id), "key": key, "name": values["name"].strip(),
                                    "username": values["username"]})  # fmt: skip
    return await KEYS.render(request, session, principal, answer)


@router.post("/keys/{key_id}/revoke", response_class=HTMLResponse)
async def revoke_key(
    key_id: uuid.UUID, request: Request, session: SessionDep, principal: PrincipalDep
) -> Response:
    await admin.revoke_api_key(session, principal, key_id)
    return await KEYS.render(request, session, principal, Answer(done=_("The key is revoked.")))


# Alert webhooks ---------------------------------------------------------------------------


async def _webhooks(request: Request, session: SessionDep, principal: Principal) -> dict[str, Any]:
    from service.config import get_settings

    return {
        "hooks": await webhooks.listed(session, principal),
        "configured": get_settings().alert_webhook_urls,
        "languages": [(code, language_name(code)) for code in languages()],
        "language_names": {code: language_name(code) for code in languages()},
    }


WEBHOOKS = AdminPage(
    "admin/webhooks.html", {"name": "", "url": "", "language": SOURCE_LANGUAGE}, _webhooks
)
WEBHOOKS.add_route(router, "/webhooks", "webhooks_page")


@router.post("/webhooks", response_class=HTMLResponse)
async def add_webhook(request: Request, session: SessionDep, principal: PrincipalDep) -> Response:
    values = WEBHOOKS.typed(await request.form())
    try:
        added = await webhooks.add(
            session, principal, name=values["name"], url=values["url"], language=values["language"]
        )
    except InvalidInput as error:
        answer = Answer(values=values, errors=form_errors(error, ("name", "url", "language")))
    else:
        answer = Answer(done=_("Alerts now go to {name}. Send a test to check that it answers.",
                               name=added.name))  # fmt: skip
    return await WEBHOOKS.render(request, session, principal, answer)


@router.post("/webhooks/{webhook_id}/test", response_class=HTMLResponse)
async def test_webhook(
    webhook_id: uuid.UUID, request: Request, session: SessionDep, principal: PrincipalDep
) -> Response:
    tried = await webhooks.test(session, principal, webhook_id)
    if tried.ok:
        done = _("The test message was received ({outcome}).", outcome=tried.outcome)
        return await WEBHOOKS.render(request, session, principal, Answer(done=done))
    failed = _(
        "The test message was not received ({outcome}). Check the address and that the "
        "receiver accepts POST requests from this service.",
        outcome=tried.outcome,
    )
    return await WEBHOOKS.render(request, session, principal, Answer(failed=failed))


@router.post("/webhooks/{webhook_id}/remove", response_class=HTMLResponse)
async def remove_webhook(
    webhook_id: uuid.UUID, request: Request, session: SessionDep, principal: PrincipalDep
) -> Response:
    await webhooks.remove(session, principal, webhook_id)
    done = _("The webhook is removed: no new alert goes to it.")
    return await WEBHOOKS.render(request, session, principal, Answer(done=done))


# The audit trail --------------------------------------------------------------------------

AUDIT_FIELDS = ("collection", "record", "actor", "since", "until")


def _changes(entry: AuditEntry) -> list[tuple[str, str, str]]:
    """The fields an entry changed: (field, before, after), shortened to what a table shows."""
    before, after = entry.before or {}, entry.after or {}
    skip = {"updated_at", "updated_by", "created_at", "created_by"}
    changed = []
    for name in sorted(set(before) | set(after)):
        if name in skip or before.get(name) == after.get(name):
            continue
        changed.append((name, _shown(before.get(name)), _shown(after.get(name))))
    return changed


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, dict) and "type" in value and "coordinates" in value:
        return _("a {kind} geometry", kind=value["type"])
    text = str(value)
    return text if len(text) <= 80 else text[:79] + "…"


def _collections() -> list[tuple[str, str]]:
    names = sorted({*COLLECTIONS, *ACCOUNT_TABLES})
    return [(name, name) for name in names]


@router.get("/audit", response_class=HTMLResponse)
async def audit_page(
    request: Request, session: SessionDep, principal: pages.PagePrincipal
) -> Response:
    if principal is None:
        return pages.shell(request, "admin/audit.html")
    authorize(principal, "read_audit")
    query = request.query_params
    values = {name: query.get(name, "").strip() for name in AUDIT_FIELDS}
    errors = FormErrors()
    criteria: dict[str, Any] = {}
    if values["collection"]:
        if values["collection"] not in dict(_collections()):
            errors.add("collection", _("Choose one of the listed collections."))
        criteria["collection"] = values["collection"]
    if values["record"]:
        try:
            criteria["record"] = uuid.UUID(values["record"])
        except ValueError:
            errors.add("record", _("Enter a record id as the map or the API shows it "
                                   "(32 hexadecimal digits, with or without dashes)."))  # fmt: skip
    if values["actor"]:
        criteria["actor"] = values["actor"]
    for name in ("since", "until"):
        try:
            criteria[name] = from_local_input(values[name])
        except ValueError:
            errors.add(name, _("Enter a date and time."))
    searched = any(values.values())
    # Without criteria: the latest changes of the whole mission.
    entries = (
        []
        if errors
        else await audit.entries(
            session, principal, limit=AUDIT_LIMIT if searched else RECENT, **criteria
        )
    )
    context = {
        "values": values,
        "errors": errors or None,
        "searched": searched,
        "entries": [(e, _changes(e)) for e in entries],
        "collections": _collections(),
        "limit": AUDIT_LIMIT,
    }
    return pages.render(request, "admin/audit.html", context, status_code=422 if errors else 200)
