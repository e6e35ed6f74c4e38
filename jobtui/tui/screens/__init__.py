"""Screens of the dashboard: jobs, job detail, enqueue form, confirmations (bulk too), help, audit log,
connection problem."""

from __future__ import annotations

from .audit import AuditScreen
from .bulk import BulkAnswer, BulkConfirmScreen
from .confirm import ConfirmScreen
from .connection import ConnectionScreen
from .detail import JobDetailScreen
from .enqueue import EnqueueScreen
from .help import HelpScreen
from .jobs import JobsScreen
from .jobs_keys import MUTATING, READ_ONLY_HIDDEN

__all__ = [
    "MUTATING",
    "READ_ONLY_HIDDEN",
    "AuditScreen",
    "BulkAnswer",
    "BulkConfirmScreen",
    "ConfirmScreen",
    "ConnectionScreen",
    "EnqueueScreen",
    "HelpScreen",
    "JobDetailScreen",
    "JobsScreen",
]
