"""``jobtui demo``: seed a lively mix of jobs for the example tasks, then watch them run.

The example tasks live in the repository's ``examples/tasks.py`` (quick, slow with
progress, flaky, doomed, reject, send-mail, tick); :func:`seed` enqueues jobs for
each of them plus delayed, labeled and unhosted ones, so every status appears
within seconds once the example workers run.
"""

from __future__ import annotations

from pathlib import Path

from queuecore import Blueprint, Job, Store, enqueue_many

from .config import default_sqlite_path

#: The example tasks module (a path, so it loads without being on ``sys.path``).
EXAMPLE_TASKS = Path(__file__).resolve().parent.parent / "examples" / "tasks.py"


def example_tasks_spec() -> str:
    """The ``--workers`` spec of the example tasks; raises FileNotFoundError without a checkout."""
    if not EXAMPLE_TASKS.is_file():
        raise FileNotFoundError(
            f"the example tasks are not installed ({EXAMPLE_TASKS} is missing): "
            "run jobtui demo from a checkout of the repository (pip install -e .)"
        )
    return str(EXAMPLE_TASKS)


def default_demo_path() -> Path:
    """The demo's own SQLite file, next to (never inside) the user's default store."""
    return default_sqlite_path().with_name("demo.db")


def blueprints() -> list[Blueprint]:
    """The demo jobs: every example task, some delayed, some labeled, some for no worker."""
    jobs: list[Blueprint] = []
    jobs += [Blueprint("quick", data={"n": i}) for i in range(6)]
    jobs += [
        Blueprint("slow", data={"steps": steps, "pause": pause})
        for steps, pause in ((10, 0.6), (16, 0.5), (24, 0.5), (40, 0.5))
    ]
    jobs += [Blueprint("flaky", data={"failure_rate": rate}) for rate in (0.5, 0.6, 0.7, 0.8)]
    jobs += [Blueprint("doomed", data={"disk": d}) for d in ("sda", "sdb")]
    jobs += [Blueprint("reject", data={"account": a}) for a in (1042, 2077)]
    jobs += [
        Blueprint("send-mail", data={"to": "ada@example.com", "subject": "welcome"}, label="ada"),
        Blueprint("send-mail", data={"to": "grace@example.com", "subject": "invoice"}, label="grace"),
        Blueprint("send-mail", data={"to": "bob@invalid"}, label="bob"),
        Blueprint("send-mail", data={"to": "not an address"}),
    ]
    # delayed: they count down in the "available in" column
    jobs += [
        Blueprint("quick", data={"later": True}, delay=45),
        Blueprint("slow", data={"steps": 5}, delay=90, label="after-lunch"),
        Blueprint("send-mail", data={"to": "lin@example.com", "subject": "reminder"}, delay=300),
    ]
    # for a task nobody hosts here: they stay enqueued (queue latency grows)
    jobs += [Blueprint("report", data={"month": m}, label=f"2024-{m:02d}") for m in (1, 2, 3)]
    return jobs


async def seed(store: Store) -> list[Job]:
    """Enqueue the demo jobs into ``store``; returns those inserted (labels may de-duplicate)."""
    return [job for job in await enqueue_many(store, blueprints()) if job is not None]
