"""Widgets of the dashboard: the jobs table, summary and filter bars, workers panel."""

from __future__ import annotations

from .filters import FilterBar, FilterInput
from .jobs_table import JobsTable
from .summary import SummaryBar
from .workers import WorkersPanel

__all__ = ["FilterBar", "FilterInput", "JobsTable", "SummaryBar", "WorkersPanel"]
