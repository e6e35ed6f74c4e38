"""``--help`` without a ``<bool>`` after every flag.

Typer's rich help names an option's type after it (``--limit K``, ``--name N``) and gives a
flag, which takes no value, the type ``<bool>``: ``--json <bool>`` reads as if it wanted
``--json true``. Its plain help leaves flags bare; these command classes do the same in the
rich help by giving every flag an empty metavar just before the help is formatted (the help
option itself included, which typer creates per context).
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperCommand, TyperGroup


def _bare_flags(command: Any, ctx: Any) -> None:
    """Give each flag of ``command`` (and its help option) an empty metavar, so no type shows."""
    for param in command.get_params(ctx):
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""


class Command(TyperCommand):
    """A typer command whose help shows no type after a flag."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        """Format the help with bare flags (see the module docstring)."""
        _bare_flags(self, ctx)
        super().format_help(ctx, formatter)


class Group(TyperGroup):
    """A typer group (the ``jobtui`` command itself) whose help shows no type after a flag."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        """Format the help with bare flags (see the module docstring)."""
        _bare_flags(self, ctx)
        super().format_help(ctx, formatter)


__all__ = ["Command", "Group"]
