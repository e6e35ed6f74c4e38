"""Screens of the dashboard: jobs, job detail, enqueue form, confirmation, help, connection problem."""

from __future__ import annotations

from .confirm import ConfirmScreen
from .connection import ConnectionScreen
from .detail import JobDetailScreen
from .enqueue import EnqueueScreen
from .help import HelpScreen
from .jobs import MUTATING, JobsScreen

__all__ = [
    "MUTATING",
    "ConfirmScreen",
    "ConnectionScreen",
    "EnqueueScreen",
    "HelpScreen",
    "JobDetailScreen",
    "JobsScreen",
]
