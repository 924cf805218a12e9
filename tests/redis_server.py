"""A real `redis-server` for the tests, on a free loopback port, without persistence.

`redis_server` (session fixture) yields the URL of one shared server; tests keep apart by
using their own key prefix. `RedisServer` runs a private one a test may stop and restart.
Without the `redis-server` binary the tests that need it skip.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest

from tests.helpers import free_port, unavailable

SKIP_REASON = "redis-server not installed; .ci/run installs it from Debian's packages"
START_TIMEOUT = 10.0  # seconds


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One `redis-server` process on `port` (a free one unless given)."""

    def __init__(self, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable(SKIP_REASON)
        self.binary = binary
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no"]
        # a file, not a pipe: a pipe nobody reads would block the server once full; it lives
        # as long as the server and stop() closes it
        self._log = tempfile.TemporaryFile()  # noqa: SIM115
        self._process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers_ping(self.port):
            if self._process.poll() is not None:
                self._log.seek(0)
                output = self._log.read().decode(errors="replace")
                self.stop()
                raise RuntimeError(f"redis-server exited at start:\n{output}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not answer PING in {START_TIMEOUT} s")
            time.sleep(0.02)

    def stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None
            self._log.close()

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """The URL of a `redis-server` shared by the whole session."""
    with RedisServer() as server:
        yield server.url
