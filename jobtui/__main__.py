"""``python -m jobtui``: the same as the ``jobtui`` command (for an environment without its script)."""

from jobtui.cli import main

main()
