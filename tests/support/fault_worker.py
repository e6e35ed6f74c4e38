"""A worker process for the fault tests: runs the ``fault`` task until killed.

Usage: python fault_worker.py URI COLLECTION LOG [TIMEOUT]

Each attempt appends ``start <job> <attempt> <pid> <time>`` and
``end <job> <attempt> <pid> <time>`` lines to LOG (O_APPEND, one write per line,
so lines from several processes never interleave), which lets the test count
handler side effects rather than statuses.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time

import queuecore


def log_line(fd: int, *parts: object) -> None:
    os.write(fd, (" ".join(str(p) for p in parts) + "\n").encode())


async def main(uri: str, collection: str, log: str, timeout: float) -> None:
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    store = await queuecore.connect(uri, collection=collection)
    pid = os.getpid()

    async def handler(ctx: queuecore.Context) -> None:
        log_line(fd, "start", ctx.job.id, ctx.job.attempts, pid, time.time())
        await asyncio.sleep(random.uniform(0.002, float(ctx.job.data.get("work", 0.02))))
        log_line(fd, "end", ctx.job.id, ctx.job.attempts, pid, time.time())

    queue = queuecore.Queue(store, max_lag=0.02, dequeue_interval=0.2, grace=2)
    queue.add(queuecore.Task("fault", handler, workers=4, timeout=timeout, lifetime=timeout))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with queue:
        print("ready", flush=True)
        await stop.wait()
    await store.close()


if __name__ == "__main__":
    uri, collection, log = sys.argv[1:4]
    timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
    asyncio.run(main(uri, collection, log, timeout))
