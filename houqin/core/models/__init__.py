from houqin.core.models.approvals import (
    ApprovalAction,
    ApprovalActionKind,
    ApprovalPolicy,
    ApprovalRequest,
    ApprovalRule,
    ApprovalStatus,
    GeneralOutcome,
    GeneralRequest,
    GeneralRequestCategory,
    StepKind,
)
from houqin.core.models.attachments import Attachment, AttachmentKind
from houqin.core.models.base import RestrictedQuerySet, TenantModel, TimeStampedModel
from houqin.core.models.changelog import ChangeLogEntry
from houqin.core.models.dataversion import DataVersion
from houqin.core.models.jobs import Job, JobStatus, PeriodicJobState, WorkerHeartbeat
from houqin.core.models.locations import Building, Campus, Floor, Room, RoomType
from houqin.core.models.notifications import (
    ChannelConfig,
    Delivery,
    DeliveryChannel,
    DeliveryPurpose,
    DeliveryStatus,
    Notification,
    NotificationKind,
    Reminder,
    ReminderState,
)
from houqin.core.models.numbering import DocumentSequence
from houqin.core.models.orgs import Department, Organization, OrgKind, SchoolClass, SchoolYear, Term
from houqin.core.models.users import LoginAttempt, Membership, Role, User

__all__ = [
    "DataVersion",
    "ChannelConfig",
    "Delivery",
    "DeliveryChannel",
    "DeliveryPurpose",
    "DeliveryStatus",
    "Notification",
    "NotificationKind",
    "Reminder",
    "ReminderState",
    "ApprovalAction",
    "ApprovalActionKind",
    "ApprovalPolicy",
    "ApprovalRequest",
    "ApprovalRule",
    "ApprovalStatus",
    "GeneralOutcome",
    "GeneralRequest",
    "GeneralRequestCategory",
    "StepKind",
    "Attachment",
    "AttachmentKind",
    "Building",
    "Campus",
    "ChangeLogEntry",
    "Department",
    "DocumentSequence",
    "Floor",
    "Job",
    "JobStatus",
    "PeriodicJobState",
    "WorkerHeartbeat",
    "LoginAttempt",
    "Membership",
    "OrgKind",
    "Organization",
    "RestrictedQuerySet",
    "Role",
    "Room",
    "RoomType",
    "SchoolClass",
    "SchoolYear",
    "TenantModel",
    "Term",
    "TimeStampedModel",
    "User",
]
