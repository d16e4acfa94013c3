"""SQLAlchemy models: one module per aggregate. Class names are plain nouns."""

from app.models.agency import Agency, CalendarDay
from app.models.audit import AuditChain, AuditLog
from app.models.desk import SupplementRequest
from app.models.document import IssuedDocument
from app.models.dossier import (
    Attachment,
    AuditEvent,
    Dossier,
    DossierCounter,
    HumanTask,
    MessageKey,
    Notification,
    RegistryLookup,
    WorkflowInstance,
)
from app.models.draft import ProcedureDraft
from app.models.idempotency import IdempotentRequest
from app.models.integration import Payment, PaymentCallback, PortalOutbox, Refund, ServiceCall
from app.models.leave import LatenessOwed, OfficerLeave, StepHolding
from app.models.procedure import Procedure, ProcedureVersion
from app.models.schedule import ProcedureSchedule
from app.models.user import ApiToken, User, UserSession
from app.models.watch import DeadlineNotice

__all__ = [
    "Agency",
    "ApiToken",
    "Attachment",
    "AuditChain",
    "AuditEvent",
    "AuditLog",
    "CalendarDay",
    "DeadlineNotice",
    "Dossier",
    "DossierCounter",
    "HumanTask",
    "IdempotentRequest",
    "IssuedDocument",
    "LatenessOwed",
    "MessageKey",
    "Notification",
    "OfficerLeave",
    "Payment",
    "PaymentCallback",
    "PortalOutbox",
    "Procedure",
    "ProcedureDraft",
    "ProcedureSchedule",
    "ProcedureVersion",
    "Refund",
    "RegistryLookup",
    "ServiceCall",
    "StepHolding",
    "SupplementRequest",
    "User",
    "UserSession",
    "WorkflowInstance",
]
