"""The dashboard's keys: the app's own bindings, every binding by the groups that are active
together, and the ``[keys]`` of the config file applied to them.

``[keys]`` remaps a binding by its id (``App.set_keymap``). Before it is applied, an unknown id
is named in one warning (and ignored), and a key given to a binding that another binding
active with it already has is a *clash* (:func:`key_clashes`): one warning says which of the
two gets the key — Textual tries the bindings nearest the focused widget first — and how to
fix it. The help screen (``?``) lists the keys as remapped (:func:`key_label`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

from textual.binding import Binding, BindingType

from ..config import UserConfig

#: The app's bindings: they apply on every screen (the screens' own come first).
APP_BINDINGS: list[BindingType] = [
    Binding("q", "quit", "Quit", id="quit"),
    Binding("question_mark", "help", "Help", key_display="?", id="help"),
    Binding("ctrl+p", "command_palette", "Commands", show=False, id="palette"),
]

#: How key names are written in the help.
NAMES = {
    "slash": "/",
    "question_mark": "?",
    "escape": "esc",
    "plus": "+",
    "minus": "-",
    "colon": ":",
    "equals_sign": "=",
}


def key_label(binding: Binding, keymap: Mapping[str, str] | None = None) -> str:
    """How a binding's key is written in the help (a remapped key first, then ``key_display``)."""
    if keymap and binding.id and binding.id in keymap:
        keys = keymap[binding.id]
    elif binding.key_display:
        return binding.key_display
    else:
        keys = binding.key
    return ", ".join(NAMES.get(k.strip(), k.strip()) for k in keys.split(","))


def bindings_of(items: Iterable[BindingType]) -> list[Binding]:
    """The bindings of a ``BINDINGS`` list (tuples left out)."""
    return [b for b in items if isinstance(b, Binding)]


def key_groups() -> list[list[list[Binding]]]:
    """Bindings that are active together (one key may serve only one of them), each group by
    level from the focused widget out to the app: Textual tries the levels in that order, so
    of two bindings with one key the one at the nearer level has it."""
    from .screens import (
        AuditScreen,
        ConfirmScreen,
        ConnectionScreen,
        EnqueueScreen,
        HelpScreen,
        JobDetailScreen,
        JobsScreen,
    )
    from .widgets import FilterInput, JobsTable, WorkersPanel

    app = bindings_of(APP_BINDINGS)
    return [
        [bindings_of(JobsTable.BINDINGS), bindings_of(JobsScreen.BINDINGS), app],
        [bindings_of(WorkersPanel.BINDINGS), app],
        [bindings_of(JobDetailScreen.BINDINGS), app],
        [bindings_of(AuditScreen.BINDINGS), app],
        [bindings_of(FilterInput.BINDINGS)],
        [bindings_of(EnqueueScreen.BINDINGS)],
        [bindings_of(ConfirmScreen.BINDINGS)],
        [bindings_of(ConnectionScreen.BINDINGS)],
        [bindings_of(HelpScreen.BINDINGS)],
    ]


def all_bindings() -> list[Binding]:
    """Every binding of the dashboard, dialogs included (what ``[keys]`` may remap by id)."""
    from .screens import ConfirmScreen, ConnectionScreen, HelpScreen
    from .screens.help import sections

    out = [b for _, items in sections() for b in items]
    for screen in (ConfirmScreen, ConnectionScreen, HelpScreen):
        out += bindings_of(screen.BINDINGS)
    return out


def binding_ids() -> set[str]:
    """Every binding id of the dashboard (what ``[keys]`` may remap)."""
    return {b.id for b in all_bindings() if b.id}


def key_names(keymap: Mapping[str, str]) -> dict[str, str]:
    """Each binding's key(s) by id as the operator has them (``g/home``; remapped by ``keymap``)."""
    return {b.id: key_label(b, keymap).replace(", ", "/") for b in all_bindings() if b.id}


def _where(config: UserConfig, binding_id: str) -> str:
    line = config.key_lines.get(binding_id)
    return f"{config.path}, line {line}" if line else str(config.path)


def unknown_ids(config: UserConfig, known: set[str]) -> str | None:
    """The warning for ``[keys]`` ids that name no binding (they are ignored), or None."""
    unknown = sorted(set(config.keys) - known)
    if not unknown:
        return None
    first = unknown[0]
    return (
        f"config file {_where(config, first)}: unknown key binding id {first!r}"
        + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else "")
        + " — see ? for the ids; ignored."
    )


def clash_warning(config: UserConfig, keymap: dict[str, str]) -> str | None:
    """The warning for the first key clash ``keymap`` makes (and how many more), or None."""
    clashes = key_clashes(keymap)
    if not clashes:
        return None
    remapped, key, other, wins = clashes[0]
    if wins:
        what = f"[keys] {remapped} takes the key {key!r} of {other}"
        fix = f"give {other} another key in [keys] to keep it"
    else:  # the other binding is nearer the focus: Textual gives it the key
        what = f"[keys] {remapped} = {key!r}: where {other} applies too, {other} keeps {key!r}"
        fix = f"give {remapped} another key"
    more = f" (and {len(clashes) - 1} more clash)" if len(clashes) > 1 else ""
    return f"config file {_where(config, remapped)}: {what}{more}; {fix}."


class KeyClash(NamedTuple):
    """A key ``[keys]`` gives ``remapped`` that ``other`` (active at the same time) has too."""

    remapped: str
    key: str
    other: str
    #: Whether ``remapped`` gets the key: it does unless ``other`` is bound nearer the focused
    #: widget (a screen's keys come before the app's), since Textual tries those first.
    wins: bool


def key_clashes(keymap: dict[str, str]) -> list[KeyClash]:
    """Keys ``keymap`` gives a binding that another binding active with it already has."""
    from textual.keys import _normalize_key_list

    found: list[KeyClash] = []
    seen: set[tuple[str, str, str]] = set()
    for group in key_groups():
        level = {b.id: depth for depth, bindings in enumerate(group) for b in bindings if b.id}
        keys: dict[str, set[str]] = {}
        for binding in (b for bindings in group for b in bindings):
            if not binding.id:
                continue
            raw = keymap.get(binding.id, binding.key)
            for key in _normalize_key_list(raw).split(","):
                keys.setdefault(key.strip(), set()).add(binding.id)
        for remapped, value in keymap.items():
            if remapped not in level:
                continue
            for key in _normalize_key_list(value).split(","):
                for other in sorted(keys.get(key.strip(), set()) - {remapped}):
                    if (remapped, key.strip(), other) in seen or (other, key.strip(), remapped) in seen:
                        continue
                    seen.add((remapped, key.strip(), other))
                    found.append(KeyClash(remapped, key.strip(), other, level[remapped] <= level[other]))
    return found


__all__ = [
    "APP_BINDINGS",
    "KeyClash",
    "all_bindings",
    "binding_ids",
    "bindings_of",
    "clash_warning",
    "key_clashes",
    "key_groups",
    "key_label",
    "key_names",
    "unknown_ids",
]
