"""Population history of IDP sites. Who may see a figure follows the site it belongs to."""

from __future__ import annotations

import uuid

from sqlalchemy import Table, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from service.access.policy import Principal
from service.access.sql import view
from service.audit import trail
from service.collections.service import _check_scope, act_as
from service.errors import Forbidden, NotFound
from service.sites.models import IdpSite, SitePopulation
from service.sites.schemas import PopulationFigure, PopulationFigureIn

SITES: Table = IdpSite.__table__  # type: ignore[assignment]


async def _site_exact(session: AsyncSession, principal: Principal, site_id: uuid.UUID) -> bool:
    v = view(IdpSite.__table__, principal)  # type: ignore[arg-type]
    exact = await session.scalar(select(v.exact).where(v.where, IdpSite.id == site_id))
    if exact is None:
        raise NotFound("no such record in idp_sites")
    return bool(exact)


async def population_history(
    session: AsyncSession, principal: Principal, site_id: uuid.UUID
) -> list[PopulationFigure]:
    """Figures of a site, oldest first; only for principals who see the site in full."""
    if not await _site_exact(session, principal, site_id):
        raise Forbidden("you are not cleared for this site's details")
    rows = await session.scalars(
        select(SitePopulation)
        .where(SitePopulation.site_id == site_id)
        .order_by(SitePopulation.observed_on)
    )
    return [
        PopulationFigure(
            id=r.id,
            site_id=r.site_id,
            observed_on=r.observed_on,
            individuals=r.individuals,
            households=r.households,
            source=r.source,
        )
        for r in rows
    ]


async def add_population(
    session: AsyncSession, principal: Principal, site_id: uuid.UUID, figure: PopulationFigureIn
) -> PopulationFigure:
    """Record a figure; the site's current population follows the newest figure."""
    if not principal.can_write:
        raise Forbidden("your role may not change records; officers and admins may")
    await act_as(session, principal)
    if not await _site_exact(session, principal, site_id):
        raise Forbidden("you are not cleared for this site and may not change it")
    await _check_scope(session, SITES, site_id, principal)
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
