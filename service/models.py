"""Every mapped table, imported in one place for Alembic and the registry."""

from service.actors.models import Actor
from service.alerts.models import (
    Alert,
    AlertEngineState,
    AlertRecord,
    AlertRule,
    Event,
    WebhookDelivery,
)
from service.audit.models import AuditEntry
from service.auth.models import ApiKey, User
from service.base import Base
from service.field_reports.models import DuplicateDismissal, IntakeForm, IntakeSubmission
from service.idempotency import IdempotencyKey
from service.imports.models import ImportJob
from service.incidents.models import Incident
from service.jobs.models import Job
from service.patrols.models import OperatingBase, Patrol
from service.places.models import Place
from service.projects.models import Project, ProjectStatusHistory
from service.requests.models import AssistanceRequest, AssistanceRequestHistory
from service.sectors.models import Sector
from service.sites.models import IdpSite, SitePopulation

__all__ = [
    "Actor",
    "Alert",
    "AlertEngineState",
    "AlertRecord",
    "AlertRule",
    "ApiKey",
    "AssistanceRequest",
    "AssistanceRequestHistory",
    "AuditEntry",
    "Base",
    "DuplicateDismissal",
    "Event",
    "IdempotencyKey",
    "IdpSite",
    "ImportJob",
    "Incident",
    "IntakeForm",
    "IntakeSubmission",
    "Job",
    "OperatingBase",
    "Patrol",
    "Place",
    "Project",
    "ProjectStatusHistory",
    "Sector",
    "SitePopulation",
    "User",
    "WebhookDelivery",
]
