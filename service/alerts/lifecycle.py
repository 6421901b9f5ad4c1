"""Start and stop the background parts of early warning with the application."""

from __future__ import annotations

from fastapi import FastAPI

from service.alerts.engine import AlertEngine
from service.alerts.outbox import OutboxWorker
from service.alerts.stream import LiveEvents
from service.config import Settings


def start(app: FastAPI, settings: Settings) -> None:
    state = app.state
    state.live_events = LiveEvents(state.changes)
    state.alert_engine = AlertEngine(
        state.sessionmaker,
        state.changes,
        settings.alerts_interval_s,
        schedule_s=settings.alerts_schedule_s,
        retention_hours=settings.events_retention_hours,
        in_worker=True,
    )
    state.webhook_outbox = OutboxWorker(state.sessionmaker, settings)
    state.alert_engine.start()
    state.webhook_outbox.start()


async def stop(app: FastAPI) -> None:
    await app.state.webhook_outbox.stop()
    await app.state.alert_engine.stop()
