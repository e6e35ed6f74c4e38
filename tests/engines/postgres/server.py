"""A throw-away PostgreSQL server for the test suite: ``initdb`` into a temp dir, ``postgres``
on a free loopback port (and a socket in that dir), stopped at the end.

PostgreSQL refuses to run as root: as root the server runs as the ``postgres`` user (Debian's
``postgresql`` package makes it), its directory given to that user. The binaries are found
in ``QUEUECORE_TEST_POSTGRES_BIN``, else the newest ``/usr/lib/postgresql/*/bin`` (Debian),
else on ``PATH``. The server gets ``SIGQUIT`` (immediate shutdown) when the process that
started it dies, even by SIGKILL (``PR_SET_PDEATHSIG``), so no server outlives a test run.
It is tuned for tests only: ``fsync=off`` (a crash of the machine may lose its data), the
``trust`` authentication, the C locale.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

#: The database the suite's stores live in (each test in tables of its own).
DATABASE = "queuecore_test"
STARTUP_TIMEOUT_S = 60.0


class ServerStartError(RuntimeError):
    """The server did not come up; the message holds its log."""


def bin_dir() -> Path:
    """Where ``initdb`` and ``postgres`` are."""
    env = os.environ.get("QUEUECORE_TEST_POSTGRES_BIN")
    if env:
        return Path(env)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    if found:
        return Path(found[-1])
    initdb = shutil.which("initdb")
    if initdb is None:
        raise ServerStartError("no PostgreSQL found: apt-get install -y postgresql (.ci/run does)")
    return Path(initdb).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _die_with_parent() -> None:
    """In the child, after it became the server's user: SIGQUIT when the parent dies."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGQUIT)  # PR_SET_PDEATHSIG


class Server:
    """One server: :meth:`start`, :meth:`stop` (idempotent), :meth:`restart` (same port and data)."""

    def __init__(self) -> None:
        self.bin = bin_dir()
        self.user: str | None = "postgres" if os.geteuid() == 0 else None
        self.dir = Path(tempfile.mkdtemp(prefix="qc-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        initdb = [str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust"]
        self._run([*initdb, "-E", "UTF8", "--no-locale", "--no-sync"])

    @property
    def uri(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def _kwargs(self) -> dict[str, object]:
        if self.user is None:
            return {}
        entry = pwd.getpwnam(self.user)
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def _run(self, args: list[str]) -> None:
        done = subprocess.run(args, capture_output=True, cwd=self.dir, **self._kwargs())  # type: ignore[call-overload]
        if done.returncode != 0:
            raise ServerStartError(f"{args[0]} failed: {done.stdout.decode()} {done.stderr.decode()}")

    def start(self) -> None:
        args = [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port)]
        args += ["-h", "127.0.0.1", "-k", str(self.dir)]
        for setting in (
            "fsync=off",
            "synchronous_commit=off",
            "full_page_writes=off",
            "max_connections=400",
            "shared_buffers=64MB",
            "log_min_messages=warning",
            "log_min_error_statement=panic",
        ):
            args += ["-c", setting]
        log = self.log.open("ab")
        self.process = subprocess.Popen(
            args,
            stdout=log,
            stderr=log,
            cwd=self.dir,
            preexec_fn=_die_with_parent,
            **self._kwargs(),  # type: ignore[call-overload]
        )
        log.close()
        self._wait_ready()

    def _wait_ready(self) -> None:
        import psycopg

        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        admin = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise ServerStartError(f"postgres exited: {self.log.read_text(errors='replace')}")
            try:
                with psycopg.connect(admin, autocommit=True, connect_timeout=2) as conn:
                    exists = conn.execute(
                        "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]
                    ).fetchone()
                    if exists is None:
                        conn.execute(f"CREATE DATABASE {DATABASE}")
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise ServerStartError(
                        f"postgres did not start: {self.log.read_text(errors='replace')}"
                    ) from None
                time.sleep(0.05)

    def stop(self, *, remove: bool = True) -> None:
        """Fast shutdown (SIGINT: sessions are ended, the data kept), then the directory removed."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if remove:
            shutil.rmtree(self.dir, ignore_errors=True)

    def restart(self, down: float = 0.0) -> None:
        """Stop the server (its data kept), wait ``down`` seconds, start it on the same port."""
        self.stop(remove=False)
        time.sleep(down)
        self.start()


def start_server() -> Server:
    server = Server()
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    return server
