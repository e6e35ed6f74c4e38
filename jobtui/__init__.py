"""jobtui: a live terminal dashboard (Textual) and a scripting CLI (typer) for queuecore jobs."""

__version__ = "0.1.0"
