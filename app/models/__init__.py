"""SQLAlchemy models: one module per aggregate. Class names are plain nouns."""

from app.models.admin import AdminChange
from app.models.agency import Agency, CalendarDay, Department
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
from app.models.indicator import IndicatorDay
from app.models.integration import Payment, PaymentCallback, PortalOutbox, Refund, ServiceCall
from app.models.leave import LatenessOwed, OfficerLeave, StepHolding
from app.models.personal_document import PersonalDocument
from app.models.procedure import Procedure, ProcedurePublication, ProcedureVersion
from app.models.rating import DossierRating
from app.models.schedule import ProcedureSchedule
from app.models.user import ApiClient, ApiToken, User, UserSession
from app.models.watch import DeadlineNotice

__all__ = [
    "AdminChange",
    "Agency",
    "ApiClient",
    "ApiToken",
    "Attachment",
    "AuditChain",
    "AuditEvent",
    "AuditLog",
    "CalendarDay",
    "DeadlineNotice",
    "Department",
    "Dossier",
    "DossierCounter",
    "DossierRating",
    "HumanTask",
    "IdempotentRequest",
    "IndicatorDay",
    "IssuedDocument",
    "LatenessOwed",
    "MessageKey",
    "Notification",
    "OfficerLeave",
    "PersonalDocument",
    "Payment",
    "PaymentCallback",
    "PortalOutbox",
    "Procedure",
    "ProcedureDraft",
    "ProcedurePublication",
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
