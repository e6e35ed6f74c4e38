"""``python -m jobtui.cli``: the same as the ``jobtui`` command."""

from jobtui.cli import main

main()
