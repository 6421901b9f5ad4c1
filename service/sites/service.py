"""Population history of IDP sites. Who may see a figure follows the site it belongs to; who
may add, correct or withdraw one, the rules of writing the site."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Table, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from service.access.actions import authorize
from service.access.policy import Principal
from service.access.sql import view, view_children
from service.audit import trail
from service.core import dates
from service.core.records import _editable, act_as
from service.errors import Conflict, Forbidden, InvalidInput, NotFound
from service.i18n import _
from service.sites.collection import IDP_SITES
from service.sites.models import IdpSite, SitePopulation
from service.sites.schemas import PopulationFigure, PopulationFigureIn, PopulationFigurePatch

SITES: Table = IdpSite.__table__  # type: ignore[assignment]
FIGURES: Table = SitePopulation.__table__  # type: ignore[assignment]
COUNTED = "give the date the population was counted"


async def _site_exact(session: AsyncSession, principal: Principal, site_id: uuid.UUID) -> bool:
    v = view(IdpSite.__table__, principal)  # type: ignore[arg-type]
    exact = await session.scalar(select(v.exact).where(v.where, IdpSite.id == site_id))
    if exact is None:
        raise NotFound(_("no such record in idp_sites"))
    return bool(exact)


def _figure(row: Any) -> PopulationFigure:
    return PopulationFigure.model_validate(row, from_attributes=True)


async def population_history(
    session: AsyncSession, principal: Principal, site_id: uuid.UUID, withdrawn: bool = False
) -> list[PopulationFigure]:
    """Figures of a site, oldest first (withdrawn ones too when asked); only for principals
    who see the site in full."""
    if not await _site_exact(session, principal, site_id):
        raise Forbidden(_("you are not cleared for this site's details"))
    # The read gate of the site's child table: its rows, the staff fields as the reader may see them.
    statement = (
        view_children(FIGURES, SITES, principal)
        .where(FIGURES.c.site_id == site_id)
        .order_by(FIGURES.c.observed_on, FIGURES.c.created_at)
    )
    if not withdrawn:
        statement = statement.where(FIGURES.c.withdrawn_at.is_(None))
    return [_figure(r) for r in (await session.execute(statement)).all()]


async def _may_write_site(session: AsyncSession, principal: Principal, site_id: uuid.UUID) -> None:
    """The rules of writing the site: role, clearance, sector scope."""
    authorize(principal, "edit")
    await act_as(session, principal)
    await _editable(session, IDP_SITES, principal, site_id)


async def _standing_figure(session: AsyncSession, site_id: uuid.UUID, figure_id: uuid.UUID) -> None:
    """Lock the figure of this site; a withdrawn one cannot change."""
    withdrawn_at = (
        await session.execute(
            select(FIGURES.c.withdrawn_at)
            .where(FIGURES.c.id == figure_id, FIGURES.c.site_id == site_id)
            .with_for_update()
        )
    ).one_or_none()
    if withdrawn_at is None:
        raise NotFound(_("no such population figure for this site"))
    if withdrawn_at[0] is not None:
        raise Conflict(_("this population figure was withdrawn and cannot change; add a new one"))


async def _follow_latest(session: AsyncSession, site_id: uuid.UUID) -> None:
    """The site's population becomes its latest standing figure (none: no population)."""
    latest = (
        select(FIGURES.c.individuals, FIGURES.c.households, FIGURES.c.observed_on)
        .where(FIGURES.c.site_id == site_id, FIGURES.c.withdrawn_at.is_(None))
        .order_by(FIGURES.c.observed_on.desc(), FIGURES.c.created_at.desc())
        .limit(1)
    )
    figure = (await session.execute(latest)).one_or_none()
    await trail.write(
        trail.on_session(session),
        SITES,
        update(SITES)
        .where(SITES.c.id == site_id)
        .values(
            population_individuals=figure.individuals if figure else None,
            population_households=figure.households if figure else None,
            population_date=figure.observed_on if figure else None,
        ),
        kind="update",
        targets=[site_id],
    )


async def correct_population(
    session: AsyncSession,
    principal: Principal,
    site_id: uuid.UUID,
    figure_id: uuid.UUID,
    correction: PopulationFigureIn | PopulationFigurePatch,
) -> PopulationFigure:
    """Correct a standing figure (all of it, or the fields given); the site follows the
    figure that is then the latest."""
    replace = isinstance(correction, PopulationFigureIn)
    values = correction.model_dump(exclude_unset=not replace)
    for required in ("observed_on", "individuals"):
        if required in values and values[required] is None:
            raise InvalidInput(
                ["body", required], _("{required} cannot be empty; give a value", required=required)
            )
    dates.not_in_future(values.get("observed_on"), ["body", "observed_on"], COUNTED)
    await _may_write_site(session, principal, site_id)
    await _standing_figure(session, site_id, figure_id)
    if values:
        await session.execute(
            update(FIGURES)
            .where(FIGURES.c.id == figure_id)
            .values(**values, updated_at=func.now(), updated_by=principal.username)
        )
        await _follow_latest(session, site_id)
    await session.commit()
    return await _one_figure(session, figure_id)


async def withdraw_population(
    session: AsyncSession,
    principal: Principal,
    site_id: uuid.UUID,
    figure_id: uuid.UUID,
    reason: str,
) -> None:
    """Withdraw a wrong figure: it stays, with who withdrew it, when and why, but no longer
    counts; the site follows the latest figure still standing."""
    await _may_write_site(session, principal, site_id)
    await _standing_figure(session, site_id, figure_id)
    await session.execute(
        update(FIGURES)
        .where(FIGURES.c.id == figure_id)
        .values(withdrawn_at=func.now(), withdrawn_by=principal.username, withdrawn_reason=reason)
    )
    await _follow_latest(session, site_id)
    await session.commit()


async def _one_figure(session: AsyncSession, figure_id: uuid.UUID) -> PopulationFigure:
    row = await session.scalar(
        select(SitePopulation)
        .where(SitePopulation.id == figure_id)
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return _figure(row)


async def add_population(
    session: AsyncSession, principal: Principal, site_id: uuid.UUID, figure: PopulationFigureIn
) -> PopulationFigure:
    """Record a figure; the site's current population follows the newest figure."""
    dates.not_in_future(figure.observed_on, ["body", "observed_on"], COUNTED)
    await _may_write_site(session, principal, site_id)
    figure_id = (
        await session.execute(
            insert(SitePopulation)
            .values(site_id=site_id, **figure.model_dump())
            .returning(SitePopulation.id)
        )
    ).scalar_one()
    await trail.write(
        trail.on_session(session),
        SITES,
        update(SITES)
        .where(
            SITES.c.id == site_id,
            or_(SITES.c.population_date.is_(None), SITES.c.population_date <= figure.observed_on),
        )
        .values(
            population_individuals=figure.individuals,
            population_households=figure.households,
            population_date=figure.observed_on,
        ),
        kind="update",
        targets=[site_id],
    )
    await session.commit()
    return PopulationFigure(id=figure_id, site_id=site_id, **figure.model_dump())
