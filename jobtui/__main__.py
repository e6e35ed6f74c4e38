"""``python -m jobtui``: the same as the ``jobtui`` command."""

from .cli import main

main()
