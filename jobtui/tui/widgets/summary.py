"""The summary bar: counts per status, per-minute sparklines, queue latency, connection."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Sparkline, Static

from queuecore import Status
from queuecore.printable import printable
from queuecore.store import MODE_POLLING, MODE_RECONNECTING

from ... import format as fmt
from ... import present
from ...live import LiveModel
from ...view import STATUS_ORDER

#: The indicator's style per ``store.mode``; any other mode is a live feed (``LIVE_STYLE``).
MODE_STYLES = {
    MODE_POLLING: "bold yellow",
    MODE_RECONNECTING: "bold red blink",
}
LIVE_STYLE = "bold green"


def counts_text(
    counts: dict[str, int], capped: set[str] | frozenset[str] = frozenset(), *, compact: bool = False
) -> Text:
    """``enqueued 3  running 1 … stalled 2`` coloured by status (a capped count as ``10k+``),
    unknown statuses summed as ``other``. ``compact`` (a narrow terminal): short names
    (``enq 3 run 1 …``), single spaces."""
    names, gap = (present.SHORT_NAMES, " ") if compact else (present.STATUS_NAMES, "  ")
    text = Text(no_wrap=True, overflow="ellipsis")
    for status in STATUS_ORDER:
        count = counts.get(status, 0)
        if status == "running" and "running" not in counts:  # a store without the split
            count = counts.get(Status.DEQUEUED.value, 0)
        # stalled jobs are an alarm: coloured only when there are some (a zero stays quiet)
        style = "dim" if status == "stalled" and not count else present.STATUS_STYLES[status]
        text.append(f"{names[status]} ", style=style)
        text.append(fmt.count_text(count, status in capped) + gap)
    known = {s.value for s in Status} | set(STATUS_ORDER)
    other = sum(n for s, n in counts.items() if s not in known)
    if other:
        text.append("⚠ other ", style=present.MALFORMED_STYLE)
        text.append(f"{other:,}")
    return text


#: Seconds changes may wait to be shown before the indicator stops saying "live".
BEHIND_AFTER = 1.0


def connection_text(mode: str, label: str, behind: float = 0.0, paused: bool = False) -> Text:
    """The connection indicator: ``● live (change stream)``, ``● polling``, ``● reconnecting…``;
    ``● behind 3s`` while changes have waited longer than ``BEHIND_AFTER`` to be shown (the
    feed is up, but what the screen shows is not current); ``● paused`` while the operator
    froze the view (``p``)."""
    if paused and mode != MODE_RECONNECTING:
        return Text.assemble(("● ", "bold yellow"), ("paused", "bold yellow"))
    if behind > BEHIND_AFTER and mode != MODE_RECONNECTING:
        return Text.assemble(("● ", "bold yellow"), (f"behind {fmt.duration(behind)}", "bold yellow"))
    style = MODE_STYLES.get(mode, LIVE_STYLE)
    return Text.assemble(("● ", style), (label, style))


def latency_text(model: LiveModel) -> Text:
    """Oldest waiting job per task, longest first."""
    if model.latency is None:
        return Text("latency: too many active jobs to measure", style="dim")
    lat = model.latencies()
    if not lat:
        return Text("latency: no job waiting", style="dim")
    text = Text("waiting: ", style="dim", no_wrap=True, overflow="ellipsis")
    for i, (name, seconds) in enumerate(sorted(lat.items(), key=lambda kv: -kv[1])[:4]):
        if i:
            text.append(", ")
        text.append(printable(name))  # a stored job name
        text.append(f" {fmt.duration(seconds)}", style="bold yellow" if seconds >= 60 else "bold")
    return text


class SummaryBar(Vertical):
    """Two lines: counts + connection; sparklines + latency."""

    def compose(self) -> ComposeResult:
        with Horizontal(classes="summary-line"):
            yield Static(id="summary-counts")
            yield Static(id="summary-connection")
        with Horizontal(classes="summary-line"):
            yield Label("done/min", classes="spark-label")
            # no data until connected: Textual draws one value as a full bar, none as empty
            yield Sparkline([], id="spark-completed", summary_function=max)
            yield Label("failed/min", classes="spark-label")
            yield Sparkline([], id="spark-failed", summary_function=max)
            yield Static(id="summary-latency")
            yield Static(id="summary-uri")

    def show(self, model: LiveModel | None, uri: str, behind: float = 0.0, paused: bool = False) -> None:
        """Render from the model (None: not connected yet); ``behind``: seconds changes have
        waited to reach the screen, ``paused``: the view is frozen (the indicator says so
        instead of "live")."""
        if model is None:
            fmt.set_content(self.query_one("#summary-counts", Static), Text("connecting…", style="dim"))
            fmt.set_content(self.query_one("#summary-uri", Static), fmt.safe_text(uri, "dim"))
            return
        # only what changed is updated: this runs with every batch of changes
        counts = counts_text(model.counts, model.capped)
        connection = connection_text(model.mode, model.mode_label, behind, paused)
        room = self.content_size.width - 1  # one column between the two
        if room > 0 and counts.cell_len + connection.cell_len > room:  # a narrow terminal
            counts = counts_text(model.counts, model.capped, compact=True)
            if counts.cell_len + connection.cell_len > room:
                connection = connection_text(model.mode, model.mode_label.split(" (")[0], behind, paused)
        fmt.set_content(self.query_one("#summary-counts", Static), counts)
        fmt.set_content(self.query_one("#summary-connection", Static), connection)
        shown_uri = self.query_one("#summary-uri", Static)
        fmt.set_content(shown_uri, Text(printable(uri), style="dim", overflow="ellipsis", no_wrap=True))
        shown_uri.display = self.size.width >= 110  # the header shows it too: latency goes first
        for status in ("completed", "failed"):
            spark = self.query_one(f"#spark-{status}", Sparkline)
            data = model.rates(status, 12)
            if list(spark.data or ()) != data:
                spark.data = data
        fmt.set_content(self.query_one("#summary-latency", Static), latency_text(model))

    def plain(self) -> str:
        """The bar's text (for tests and screen readers)."""
        parts = []
        for id in ("#summary-counts", "#summary-connection", "#summary-latency", "#summary-uri"):
            content = self.query_one(id, Static).content
            parts.append(content.plain if isinstance(content, Text) else str(content))
        return "  ".join(parts)
