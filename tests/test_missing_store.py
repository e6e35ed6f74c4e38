"""Read-only commands never create a store, on every engine: one error line, nothing made."""

from __future__ import annotations

import pytest
from support.cli import Cli, assert_one_line_error
from support.targets import StoreTarget


@pytest.mark.parametrize("command", [["ls"], ["show", "0123456789abcdef01234567"], ["stats"], ["audit"]])
def test_read_only_commands_refuse_a_missing_store_and_create_nothing(
    target: StoreTarget, command: list[str]
) -> None:
    result = Cli(target)(*command)
    assert_one_line_error(result, "no store at")
    assert not target.support.made_anything(target)
