"""The header and footer of every screen, made to hold on any terminal.

* The header's subtitle names the store (:func:`store_title`).
* The header's icon is ``≡``: Textual's default (``⭘``, U+2B58) is missing from common
  terminal fonts (DejaVu Sans Mono, Menlo, Consolas) and shows as a box; ``≡`` is in every
  one of them (it is in code page 437).
* The compact footer puts two spaces between keys (Textual's one made "Cancel r Requeue"
  read as one run).
* The footer never cuts a key in half or hides one under the command palette's key: when the
  keys do not fit the width, the least needed are left out (:data:`DROP_FIRST`, then from
  the right), never help or quit — ``?`` lists every key. Textual's compact footer also left
  its last column uncovered (a margin on the palette's key), showing a stray character of
  the key scrolled under it; that margin is removed.
"""

from __future__ import annotations

from datetime import timedelta

from textual.widgets import Footer, Header
from textual.widgets._footer import FooterKey

from queuecore.printable import printable

from ... import format as fmt
from ..read_only import action_name

#: The header's icon (see the module docstring).
ICON = "≡"
#: Actions whose keys are left out first when the footer is too narrow, in this order.
DROP_FIRST = ("toggle_freeze", "command_line", "requeue", "enqueue")
#: Actions whose keys always stay.
KEEP = frozenset({"help", "quit"})


def store_title(where: str, retention: timedelta | None = None, read_only: bool = False) -> str:
    """The header's subtitle: where the jobs are (``store.location``, as the engine says it:
    the masked URI and collection, SQLite's file), and how long finished jobs are kept (when
    the store has a retention)."""
    if retention:
        where += f" · keeps finished {fmt.retention(retention)}"
    return printable(("READ-ONLY · " if read_only else "") + where)


class AppHeader(Header):
    """Textual's header with an icon every terminal font has."""

    def __init__(self, show_clock: bool = False) -> None:
        super().__init__(show_clock=show_clock, icon=ICON)


def key_width(key: FooterKey) -> int:
    """The cells ``key`` takes in the footer: its text, padding, border and margin."""
    return key.render().cell_len + key.styles.gutter.width + key.styles.margin.width


class AppFooter(Footer):
    """Textual's footer showing only keys it can show whole (see the module docstring)."""

    DEFAULT_CSS = """
    AppFooter.-compact FooterKey {
        margin-right: 2;  /* "c Cancel  r Requeue": one key's end never reads as the next key */
    }
    AppFooter.-compact FooterKey.-command-palette {
        margin-right: 0;
    }
    """

    async def recompose(self) -> None:
        await super().recompose()
        self.fit()

    def on_resize(self) -> None:
        self.fit()

    def fit(self) -> None:
        """Show the keys that fit the width, leaving out the least needed."""
        keys = [k for k in self.query_children(FooterKey) if not k.has_class("-command-palette")]
        if not keys or not self.size.width:
            return
        room = self.size.width
        for palette in self.query_children(FooterKey).filter(".-command-palette"):
            room -= key_width(palette)
        needed = {k: key_width(k) for k in keys}

        def rank(key: FooterKey) -> tuple[int, int]:  # DROP_FIRST in order, then right to left
            name = action_name(key.action)
            first = DROP_FIRST.index(name) if name in DROP_FIRST else len(DROP_FIRST)
            return first, -keys.index(key)

        order = sorted((k for k in keys if action_name(k.action) not in KEEP), key=rank)
        total = sum(needed.values())
        dropped: set[FooterKey] = set()
        for key in order:
            if total <= room:
                break
            dropped.add(key)
            total -= needed[key]
        for key in keys:
            key.display = key not in dropped
