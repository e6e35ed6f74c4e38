"""Pilot tests of what every screen draws around its content, and of cells cut to their
column: the header's icon is a glyph terminal fonts have, the footer shows its keys whole
and spaced (help and quit on 80 columns), a table cell cut to its column says so with "…",
read-only names every refused key in words, and a bulk action on marks it cannot touch says
why."""

from __future__ import annotations

from typing import Any

import pytest
from rich.cells import cell_len
from support.targets import StoreTarget
from support.tui import enqueue, fail, notes, screen_lines, started, table, wait_for
from textual.widgets._header import HeaderIcon

from jobtui.tui.app import JobTUI
from jobtui.tui.screens import AuditScreen, JobDetailScreen
from jobtui.tui.widgets.workers import COLUMNS as PANEL_COLUMNS
from jobtui.tui.widgets.workers import stats_row
from queuecore import TaskStats


@pytest.fixture
def target(quick_target: StoreTarget) -> StoreTarget:
    """A store of the test's own on the quickest engine (what these tests check does not
    depend on the engine); the ``store`` fixture opens it."""
    return quick_target


def dashboard(target: StoreTarget, **options: Any) -> JobTUI:
    """The dashboard on ``target``."""
    return JobTUI(target.uri, collection=target.collection, **options)


def header_icon(app: JobTUI) -> str:
    """The header icon of the current screen, checked to be what its first line shows."""
    icon = app.screen.query_one(HeaderIcon).icon
    assert screen_lines(app)[0].lstrip().startswith(icon)
    return icon


async def test_every_screens_header_icon_is_a_glyph_terminal_fonts_have(target: StoreTarget, store) -> None:
    await enqueue(store)
    app = dashboard(target)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, rows=1)
        icons = [header_icon(app)]
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, JobDetailScreen))
        icons.append(header_icon(app))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.jobs_screen)
        await pilot.press("A")
        await wait_for(pilot, lambda: isinstance(app.screen, AuditScreen))
        icons.append(header_icon(app))
    for icon in icons:
        # code page 437: the glyphs every terminal font has (Textual's ⭘, U+2B58, is not one)
        icon.encode("cp437")


async def test_the_footer_shows_its_keys_whole_and_spaced_and_help_on_80_columns(target: StoreTarget) -> None:
    app = dashboard(target)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, rows=0)
        await wait_for(pilot, lambda: "Commands" in screen_lines(app)[-1])
        footer = screen_lines(app)[-1]
        assert footer.endswith("^p Commands"), footer  # nothing of a key scrolled under it shows
        assert "? Help" in footer and "q Quit" in footer, footer  # they were cut off
        assert footer.startswith("c Cancel  r Requeue  n New  space Mark  / Search"), footer
    app = dashboard(target)
    async with app.run_test(size=(140, 24)) as pilot:  # wide enough: every key
        await started(pilot, rows=0)
        await wait_for(pilot, lambda: "Commands" in screen_lines(app)[-1])
        footer = screen_lines(app)[-1]
        assert ": Command  p Pause view  q Quit  ? Help" in footer, footer


async def test_a_cell_cut_to_its_column_ends_with_an_ellipsis(target: StoreTarget, store) -> None:
    long = await enqueue(store, "nightly-invoice-export", label="customer-acme-eu-west")
    await fail(store, long, "invalid data for task 'nightly-invoice-export': field required")
    short = await enqueue(store, "quick", label="ada")
    app = dashboard(target)
    async with app.run_test(size=(160, 30)) as pilot:
        await started(pilot, rows=2)
        await wait_for(pilot, lambda: any(long.short_id in line for line in screen_lines(app)))
        [row] = [line for line in screen_lines(app) if long.short_id in line]
        assert "nightly-invoi…" in row and "customer-ac…" in row, row
        assert "invalid data for task '…" in row, row  # was "invalid data for task 'n"
        [row] = [line for line in screen_lines(app) if short.short_id in line]
        assert "quick" in row and "ada" in row and "…" not in row, row
        assert table(app).row_count == 2


def test_a_workers_panel_cell_cut_to_its_column_ends_with_an_ellipsis() -> None:
    width = {key: w for key, _, w in PANEL_COLUMNS}
    cells = stats_row(
        TaskStats("send-newsletter-weekly", 2, last_error="rejected: customer account is suspended")
    )
    for key in ("task", "error"):
        text = cells[key].plain  # type: ignore[union-attr]
        assert cell_len(text) <= width[key] and text.endswith("…"), (key, text)


async def test_read_only_names_a_refused_range_mark_in_words(target: StoreTarget, store) -> None:
    await enqueue(store)
    app = dashboard(target, read_only=True)
    async with app.run_test(size=(120, 30)) as pilot:
        await started(pilot, rows=1)
        await pilot.press("V")
        expected = "Read-only: marking jobs is disabled (the dashboard runs read-only)."
        await wait_for(pilot, lambda: expected in notes(app))
        assert not any("_" in n for n in notes(app))  # was "mark_range is disabled"


async def test_a_bulk_action_on_marks_it_cannot_touch_says_why(target: StoreTarget, store) -> None:
    for _ in range(2):
        await enqueue(store)
    app = dashboard(target)
    async with app.run_test(size=(120, 30)) as pilot:
        await started(pilot, rows=2)
        await pilot.press("space", "space", "R")
        expected = (
            "None of the 2 marked jobs can be re-enqueued: 2 enqueued "
            "(only failed, cancelled or completed jobs can be)."
        )
        await wait_for(pilot, lambda: expected in notes(app))
        assert app.screen is app.jobs_screen
