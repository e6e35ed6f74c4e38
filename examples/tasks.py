"""Example tasks that show every state a job can be in — for demos and screenshots.

Host them in the dashboard or headless::

    jobtui --workers examples/tasks.py      # dashboard + workers in one process
    jobtui work examples.tasks              # headless worker host (Ctrl-C stops it gracefully)
    jobtui demo                             # seed a mix of jobs and watch these run

The tasks:

* ``quick`` — completes at once and echoes its data as the result.
* ``slow`` — takes a few seconds and reports progress and a note (a pydantic model
  bounds its parameters).
* ``flaky`` — fails at random with ``Error(..., retry=True)`` and is retried with a
  short backoff until it succeeds.
* ``doomed`` — always raises; after ``max_attempts=3`` the job ends cancelled.
* ``reject`` — refuses its job for good with ``Error(..., retry=False)`` (cancelled).
* ``send-mail`` — validates its data with a pydantic model; data that does not fit
  cancels the job before the handler runs, an ``@invalid`` address is rejected.
* ``tick`` — enqueued by the queue itself every 15 s (a periodic task).

Job data is only ever read as parameters; nothing in it is executed.
"""

from __future__ import annotations

import asyncio
import random

from pydantic import BaseModel, Field, model_validator

from queuecore import Context, Error, Task

#: Retry delays are kept short so a demo shows failed jobs coming back quickly.
_RETRY = {"min_delay": 1, "max_delay": 4, "delay_factor": 2}


#: The longest a ``slow`` job may take: well within its task's lifetime (below), so a job the
#: model accepts is one the task can finish — not one interrupted on every attempt.
SLOW_MAX_SECONDS = 45


class Slow(BaseModel):
    """Parameters of a ``slow`` job: how many steps, and how long each takes."""

    steps: int = Field(default=8, ge=1, le=200)
    pause: float = Field(default=0.5, ge=0, le=10)

    @model_validator(mode="after")
    def fits_the_lifetime(self) -> Slow:
        if self.steps * self.pause > SLOW_MAX_SECONDS:
            raise ValueError(f"steps × pause must be at most {SLOW_MAX_SECONDS} s")
        return self


class Flaky(BaseModel):
    """Parameters of a ``flaky`` job: the chance that an attempt fails."""

    failure_rate: float = Field(default=0.6, ge=0, le=0.95)


class Mail(BaseModel):
    """The data of a ``send-mail`` job."""

    to: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    subject: str = "hello"


async def quick(ctx: Context) -> None:
    """Complete at once; the result echoes the data."""
    ctx.result["echo"] = ctx.job.data


async def slow(ctx: Context) -> None:
    """Work through ``steps`` steps, recording progress and a note after each."""
    params: Slow = ctx.model
    for step in range(1, params.steps + 1):
        await asyncio.sleep(params.pause)
        await ctx.update(step / params.steps, f"step {step}/{params.steps}")
    ctx.result["steps"] = params.steps


async def flaky(ctx: Context) -> None:
    """Fail at random (retried with backoff), succeed eventually."""
    params: Flaky = ctx.model
    await asyncio.sleep(random.uniform(0.1, 0.6))
    if random.random() < params.failure_rate:
        raise Error("upstream timed out (flaky)", retry=True)
    ctx.result["attempts"] = ctx.job.attempts


async def doomed(ctx: Context) -> None:
    """Always raise an ordinary exception: failed twice, then cancelled on attempt 3."""
    await asyncio.sleep(0.2)
    raise RuntimeError(f"disk on fire (attempt {ctx.job.attempts})")


async def reject(ctx: Context) -> None:
    """Refuse the job for good: it ends cancelled with this reason, no retry."""
    await asyncio.sleep(0.1)
    raise Error("rejected: customer account is closed", retry=False)


async def send_mail(ctx: Context) -> None:
    """Pretend to send a mail (validated by the ``Mail`` model)."""
    mail: Mail = ctx.model
    await ctx.update(0.5, f"sending to {mail.to}")
    await asyncio.sleep(0.3)
    if mail.to.endswith("@invalid"):
        raise Error(f"bad address {mail.to}")
    ctx.result["sent"] = mail.to


async def tick(ctx: Context) -> None:
    """A periodic heartbeat job."""
    ctx.result["tick"] = ctx.job.created.isoformat()


tasks = [
    Task("quick", quick, workers=2),
    Task("slow", slow, model=Slow, workers=2, timeout=90, lifetime=SLOW_MAX_SECONDS + 15),
    Task("flaky", flaky, model=Flaky, workers=2, **_RETRY),
    Task("doomed", doomed, max_attempts=3, workers=1, **_RETRY),
    Task("reject", reject, workers=1),
    Task("send-mail", send_mail, model=Mail, workers=2, max_attempts=3, **_RETRY),
    Task("tick", tick, workers=1, periodically=15),
]
