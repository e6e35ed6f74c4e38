"""Benchmarks of issue 6: ``python -m bench {throughput,latency,mongo,tui} [options]``.

Not part of the test suite (pytest collects ``tests/`` only): timings belong here, never in
tests. Each command prints a rich table of what it measured and a table of the issue's
targets marked met / not met. Defaults finish in well under a minute each on the reference
machine (2 cores, Python 3.11, Debian 12). Nothing is faked or extrapolated: every number
is measured in the run that prints it, and every run checks afterwards that the work was
really done.

Method
======

``throughput`` (bench/throughput.py) — no-op jobs end to end on SQLite, queuecore against
Huey's ``SqliteHuey`` (PyPI ``huey``; thread consumer with W workers). Same N, same W, same
machine, same process model (one Python process each), each run on a fresh database file in
a temporary directory, every system fully drained before its clock stops:

- ``phased``: the clock starts at the first enqueue; N jobs are enqueued with no worker
  running (queuecore: ``await queuecore.enqueue`` one by one; Huey: calling the task N times),
  then the W workers start (queuecore: ``Queue.run``, which loads its board; Huey:
  ``consumer.start``) and the clock stops when all N are completed.
- ``concurrent``: the W workers are started first and idle; the clock starts at the first
  enqueue (queuecore: ``await queue.enqueue``) and stops when all N are completed.
- ``phased, enqueue_many`` (queuecore only, for reference, not a target: Huey has no batch
  enqueue): ``phased`` with the jobs enqueued by ``queuecore.enqueue_many`` in batches of 500.

"Completed" is observed without database reads: queuecore's in-process task counters
(``Queue.stats``, polled every 2 ms; a job counts once its completion is written), Huey's
``SIGNAL_COMPLETE`` (sent after its result is stored). After the clock stops, queuecore must
hold N completed jobs, each with ``attempts == 1`` and the events enqueued → dequeued →
completed; Huey an empty queue and schedule and N stored results (its task returns ``True``
so a result is stored — the only per-job record Huey keeps).

Durability differs by default: queuecore opens SQLite with WAL and ``synchronous=NORMAL``;
``SqliteHuey`` uses WAL with SQLite's default ``synchronous=FULL`` (an fsync per commit).
So Huey is measured twice, as shipped and with ``PRAGMA synchronous=NORMAL`` on each of its
connections (the same durability as queuecore), and the ratio is given against both.

``latency`` (bench/latency.py) — enqueue call → handler start, one job at a time on an idle
queue (random 0–100 ms idle between jobs), in the process that runs the workers, through a
second connection as another process would (with and without the stampede lag), and for a
polling design with the original's 100 ms interval (query + the same ``dequeue``).

``mongo`` (bench/mongo.py) — every command PyMongo sends, counted with a command listener,
per successful job in steady state on the MongoDB engine: nx-27017 started as the test suite
does (``tests/support/mongo_server.py``), or ``--uri`` for a real MongoDB.

``tui`` (bench/tui.py, tui_dash.py, tui_changes.py, tui_seed.py) — ``jobtui.tui.app.JobTUI``
headless under Textual's ``App.run_test`` in a process of its own, every frame rendered to
escape sequences and timed. On 100,000 real jobs in SQLite: time to first paint, process RSS;
while a writer process makes 1,000 change events per second, the longest stale frame (each
update of a row on screen, from its commit in the writer to the first frame showing it, the
frames replayed on a character grid afterwards) with no key pressed, then key press → render;
then key press → render while the dashboard's own bulk cancel (``C``, the count typed,
``enter``) cancels every enqueued, failed and running job (~11,000). On 1,000,000 jobs written
with the store's ``insert_many``: first paint and RSS. Seeding the million takes about a
minute and a half; ``--paint-jobs 0`` leaves it out.
"""
