"""The HTTP server around the app, and how it runs.

Requests aiohttp refuses before any routing (a header over 8 KiB, a malformed request line,
CRLF tricks) are answered in the standard error shape too, and logged without echoing the
offending bytes, which may hold a token. The event loop is uvloop when installed
(`server.event_loop`), and `server.workers` > 1 runs that many processes on one port
(SO_REUSEPORT) under a `Supervisor`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import gc
import json
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, NamedTuple

from aiohttp import http_exceptions, web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_server import Server

from nhn_proxy.settings import Settings, SettingsError

logger = logging.getLogger("nhn_proxy.server")
supervisor_logger = logging.getLogger("nhn_proxy.supervisor")

_MESSAGES: tuple[tuple[type[BaseException], str], ...] = (
    (http_exceptions.LineTooLong, "request line or header field too long"),
    (http_exceptions.InvalidHeader, "invalid HTTP header"),
    (http_exceptions.BadStatusLine, "malformed HTTP request line"),
    (http_exceptions.BadHttpMethod, "malformed HTTP request line"),
    (http_exceptions.BadHttpMessage, "malformed HTTP request"),
)


def describe_protocol_error(status: int, exc: BaseException | None) -> str:
    if status >= 500:
        return "internal error"
    for kind, message in _MESSAGES:
        if isinstance(exc, kind):
            return message
    return "malformed HTTP request"


class _StandardErrorRequestHandler(RequestHandler):
    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            raise ConnectionError("response already started; cannot send an error answer")
        text = describe_protocol_error(status, exc)
        request_id = uuid.uuid4().hex
        # the exception text quotes the refused bytes (possibly a token): log its kind only
        logger.info(
            "refused request",
            extra={
                "fields": {
                    "request_id": request_id,
                    "status": status,
                    "reason": text,
                    "error": type(exc).__name__ if exc else None,
                }
            },
        )
        response = web.Response(
            status=status,
            body=json.dumps({"error": text, "code": status}).encode(),
            content_type="application/json",
            headers={"X-Request-ID": request_id},
        )
        response.force_close()
        return response


class _StandardErrorServer(Server):
    def __call__(self) -> RequestHandler:
        return _StandardErrorRequestHandler(self, loop=self._loop, **self._kwargs)

    async def shutdown(self, timeout: float | None = None) -> None:
        """One grace period in all (`server.shutdown_timeout`), then what is still running is
        cut. aiohttp alone waits `timeout` for the handlers, then cancels only their request
        bodies and waits `timeout` once more before cancelling them: twice the setting."""
        connections = list(self._connections)
        stopping = asyncio.ensure_future(super().shutdown(timeout))
        if timeout is not None:
            await asyncio.wait({stopping}, timeout=timeout)
            for connection in connections:
                handler = getattr(connection, "_task_handler", None)
                if handler is not None and not handler.done():
                    handler.cancel()
        await stopping


class ProxyRunner(web.AppRunner):
    """`web.AppRunner` whose protocol-level errors use the standard error shape."""

    async def _make_server(self) -> Server:
        server = await super()._make_server()
        server.__class__ = _StandardErrorServer  # same state, one method overridden
        return server


# -- how the server runs: the event loop, and several worker processes on one port ----------


class EventLoop(NamedTuple):
    """The event loop `serve` runs on: its name for the banner and how to make one."""

    name: str
    factory: Callable[[], asyncio.AbstractEventLoop]


def choose_event_loop(choice: str) -> EventLoop:
    """The loop `server.event_loop` asks for: "auto" takes uvloop (libuv, written in C: less
    CPU per request than the standard loop) when it is importable, else asyncio's own.
    Raises SettingsError when "uvloop" is asked for but not installed."""
    if choice == "asyncio":
        return EventLoop("asyncio", asyncio.new_event_loop)
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise SettingsError(
                "server.event_loop = uvloop, but uvloop is not installed: "
                "pip install 'nhn-cloud-proxy[fast]'"
            ) from None
        return EventLoop("asyncio", asyncio.new_event_loop)
    return EventLoop("uvloop", uvloop.new_event_loop)


def workers_possible() -> bool:
    """Several workers share one port through SO_REUSEPORT and are forked: Linux has both."""
    return hasattr(socket, "SO_REUSEPORT") and "fork" in multiprocessing.get_all_start_methods()


def check_workers(settings: Settings) -> None:
    """Refuse, before any process starts, settings that several workers cannot serve."""
    workers = settings.server.workers
    if workers == 1:
        return
    named = f"server.workers = {workers} (--workers)"
    if not workers_possible():
        raise SettingsError(
            f"{named} needs SO_REUSEPORT and fork, which this platform lacks: run 1 worker"
        )
    if not settings.tasks.redis_url:
        raise SettingsError(
            f"{named} needs tasks.redis_url: without it tasks live in the memory of one "
            "process, signed with that process's own secret, so a task started through one "
            "worker could not be read or streamed through another; set tasks.redis_url "
            "(e.g. redis://127.0.0.1:6379/0) or run 1 worker"
        )
    if settings.server.port == 0:
        raise SettingsError(
            f"{named} needs a fixed server.port: with port 0 each worker would get its own"
        )


def check_port_free(host: str, port: int) -> None:
    """Bind `host:port` without SO_REUSEPORT and let it go: a port some process (another
    nhn-proxy, with workers or not) listens on fails here with one clear line, instead of
    our workers silently joining its SO_REUSEPORT group and sharing its connections."""
    try:
        addresses = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise SettingsError(f"server.host {host!r} cannot be resolved: {exc.strerror}") from None
    for family, kind, protocol, _name, address in dict.fromkeys(addresses):
        try:
            sock = socket.socket(family, kind, protocol)
        except OSError:  # e.g. no IPv6 here: the workers will say so if it matters
            continue
        with sock:
            # as asyncio does: a port left in TIME_WAIT by a previous run is free
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise SettingsError(
                        f"server.port {port} on {address[0]} is already in use (another "
                        "nhn-proxy?): stop it or choose another port"
                    ) from None


class StartError(Exception):
    """A child process failed to start; `code` is the exit status the command ends with."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


RESTART_DELAY = 1.0  # seconds before a dead worker is started again
RESTART_DELAY_MAX = 30.0  # the longest wait, for a worker that keeps dying young
STABLE_AFTER = 10.0  # seconds a worker must live for its next death to wait RESTART_DELAY again


@dataclass(eq=False)
class _Child:
    """One forked process the supervisor looks after (a worker, or a helper such as the
    embedded emulator). `target(channel)` runs in the child: it sends ("ready", payload) once
    it serves, or ("error", exit status, message) when it cannot start, and returns its exit
    status."""

    name: str
    target: Callable[[Connection], int]
    index: int | None = None
    process: BaseProcess | None = None
    reader: Connection | None = None
    ready: bool = False
    payload: Any = None
    error: tuple[int, str] | None = None
    started: float = 0.0
    restart_at: float | None = None
    young_deaths: int = 0  # consecutive deaths before STABLE_AFTER, for the backoff

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.exitcode is None

    @property
    def fields(self) -> dict[str, Any]:
        pid = self.process.pid if self.process is not None else None
        return {"worker": self.index, "pid": pid} if self.index else {"pid": pid}


def describe_exit(exitcode: int | None) -> str:
    if exitcode is None:
        return "is still running"
    if exitcode < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-exitcode).name}"
    return f"exited with status {exitcode}"


class Supervisor:
    """The process the user started, when `server.workers` > 1: it forks the workers (each
    serves the same app on the same port with SO_REUSEPORT, so the kernel spreads the
    connections), restarts a worker that dies, and on SIGTERM/SIGINT stops every worker
    (each shuts down gracefully) and then its helpers.

    It never runs an event loop or a thread itself, so forking stays safe. Use it as a
    context manager: leaving it stops whatever is still running.
    """

    def __init__(self, *, stop_timeout: float) -> None:
        self._context = multiprocessing.get_context("fork")
        self._stop_timeout = stop_timeout
        self._workers: list[_Child] = []
        self._helpers: list[_Child] = []
        self._stopping = False
        self._serving = False
        self._wake_read = self._wake_write = -1
        self._previous_handlers: dict[int, Any] = {}

    # -- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> Supervisor:
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous_handlers[signum] = signal.signal(signum, self._on_stop_signal)
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self._stop(self._workers)  # the proxy first, then what it depends on
            self._stop(self._helpers)
        finally:
            for signum, handler in self._previous_handlers.items():
                signal.signal(signum, handler)
            os.close(self._wake_read)
            os.close(self._wake_write)

    def _on_stop_signal(self, _signum: int, _frame: object) -> None:
        self._stopping = True
        with contextlib.suppress(OSError):  # the pipe is full: it is awake anyway
            os.write(self._wake_write, b"\0")

    # -- starting ---------------------------------------------------------------------------

    def start_helper(self, name: str, target: Callable[[Connection], int]) -> Any:
        """Fork a helper the workers need (one for them all) and wait until it is ready; its
        payload (e.g. its URL), or None when a stop signal came first. A helper that dies
        later stops everything (its state would be gone)."""
        helper = _Child(name, target)
        self._helpers.append(helper)
        self._fork(helper)
        while not helper.ready:
            if self._stopping:
                return None
            self._wait(None)
            self._check_started(helper)
        return helper.payload

    def run(
        self,
        count: int,
        target: Callable[[int, Connection], int],
        on_serving: Callable[[list[int]], None],
    ) -> int:
        """Fork `count` workers running `target(index, channel)`; once every one serves,
        call `on_serving(pids)` (the banner), then supervise until a stop signal. Returns the
        exit status; raises StartError when a worker fails before all were serving."""
        self._workers = [
            _Child(f"worker {index}", functools.partial(target, index), index=index)
            for index in range(1, count + 1)
        ]
        for worker in self._workers:
            self._fork(worker)
        while not all(worker.ready for worker in self._workers):
            if self._stopping:
                return 0
            self._wait(None)
            for child in (*self._workers, *self._helpers):
                self._check_started(child)
        self._serving = True
        on_serving([worker.process.pid for worker in self._workers if worker.process])
        return self._supervise()

    def _check_started(self, child: _Child) -> None:
        """A child that failed (or died) before it served fails the whole start: every worker
        runs the same code on the same settings, so the others would fail the same way."""
        if child.ready and child.alive:
            return
        if child.reader is not None:
            self._receive(child)  # its last words may still be in the pipe
        if child.error is not None:
            code, message = child.error
            raise StartError(message, code)
        if not child.alive:
            assert child.process is not None
            exitcode = child.process.exitcode
            raise StartError(f"{child.name} {describe_exit(exitcode)} while starting; see the log")

    def _fork(self, child: _Child) -> None:
        reader, writer = self._context.Pipe(duplex=False)
        sys.stdout.flush()  # else the child would write what is buffered a second time
        sys.stderr.flush()
        process = self._context.Process(
            target=self._child_main,
            args=(child, writer),
            name=f"nhn-proxy {child.name}",
            daemon=True,  # should the supervisor itself die, multiprocessing ends them
        )
        child.reader, child.ready, child.error, child.payload = None, False, None, None
        process.start()
        writer.close()
        child.process, child.reader, child.started = process, reader, time.monotonic()

    def _child_main(self, child: _Child, channel: Connection) -> None:
        """The first code of a forked child: the signals and pipes of the supervisor are not
        its own. Ctrl-C reaches the supervisor too (one process group), which then stops the
        children in order with SIGTERM: a child ignores SIGINT."""
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.close(self._wake_read)
        os.close(self._wake_write)
        for other in (*self._workers, *self._helpers):
            if other.reader is not None:
                other.reader.close()
        try:
            code = child.target(channel)
        except Exception as exc:
            logger.exception("%s failed", child.name)
            with contextlib.suppress(OSError):
                channel.send(("error", 1, f"{child.name} failed: {type(exc).__name__}: {exc}"))
            code = 1
        sys.exit(code)

    # -- supervising ------------------------------------------------------------------------

    def _supervise(self) -> int:
        while not self._stopping:
            restarts = [w.restart_at for w in self._workers if w.restart_at is not None]
            timeout = max(0.0, min(restarts) - time.monotonic()) if restarts else None
            self._wait(timeout)
            for helper in self._helpers:
                if not helper.alive:
                    assert helper.process is not None
                    supervisor_logger.error(
                        "%s (pid %d) %s; stopping: the workers cannot go on without it",
                        helper.name,
                        helper.process.pid,
                        describe_exit(helper.process.exitcode),
                    )
                    return 1
            for worker in self._workers:
                if worker.process is not None and not worker.alive:
                    self._died(worker)
                if (
                    worker.restart_at is not None
                    and time.monotonic() >= worker.restart_at
                    and not self._stopping
                ):
                    worker.restart_at = None
                    self._fork(worker)
        supervisor_logger.info("stopping %d workers", sum(worker.alive for worker in self._workers))
        return 0

    def _died(self, worker: _Child) -> None:
        assert worker.process is not None
        if worker.reader is not None:
            self._receive(worker)
        lived = time.monotonic() - worker.started
        young = lived < STABLE_AFTER or not worker.ready
        worker.young_deaths = worker.young_deaths + 1 if young else 0
        delay = min(RESTART_DELAY * 2 ** max(worker.young_deaths - 1, 0), RESTART_DELAY_MAX)
        reason = f" ({worker.error[1]})" if worker.error else ""
        supervisor_logger.error(
            "%s (pid %d) %s%s; starting it again in %.0f s",
            worker.name,
            worker.process.pid,
            describe_exit(worker.process.exitcode),
            reason,
            delay,
            extra={"fields": worker.fields},
        )
        if worker.reader is not None:
            worker.reader.close()
        worker.process, worker.reader, worker.ready = None, None, False
        worker.restart_at = time.monotonic() + delay

    def _wait(self, timeout: float | None) -> None:
        """Until a child sends something or exits, a signal comes, or `timeout` passes."""
        waiting: list[Any] = [self._wake_read]
        for child in (*self._workers, *self._helpers):
            if child.reader is not None:
                waiting.append(child.reader)
            if child.process is not None:
                # dead or alive: a dead child's sentinel stays readable, so a death that
                # nobody has handled yet (even one reaped while this list was built) wakes us
                waiting.append(child.process.sentinel)
        woken = multiprocessing.connection.wait(waiting, timeout)
        if self._wake_read in woken:
            with contextlib.suppress(BlockingIOError):
                while os.read(self._wake_read, 64):
                    pass
        for child in (*self._workers, *self._helpers):
            if child.reader is not None and child.reader in woken:
                self._receive(child)

    def _receive(self, child: _Child) -> None:
        assert child.reader is not None
        try:
            while child.reader.poll():
                message = child.reader.recv()
                if message[0] == "ready":
                    child.ready, child.payload = True, message[1]
                    if self._serving:
                        supervisor_logger.info(
                            "%s serving again", child.name, extra={"fields": child.fields}
                        )
                elif message[0] == "error":
                    child.error = (message[1], message[2])
        except (EOFError, OSError):  # it exited: nothing more will come
            child.reader.close()
            child.reader = None

    # -- stopping ---------------------------------------------------------------------------

    def _stop(self, children: list[_Child]) -> None:
        """SIGTERM to each live child (its own graceful shutdown), then wait for them; one
        still running after the stop timeout is killed."""
        for child in children:
            child.restart_at = None
        running = [child for child in children if child.alive]
        for child in running:
            assert child.process is not None and child.process.pid is not None
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self._stop_timeout
        for child in running:
            assert child.process is not None
            child.process.join(max(0.0, deadline - time.monotonic()))
            if child.process.exitcode is None:
                supervisor_logger.error(
                    "%s (pid %d) did not stop within %.0f s; killing it",
                    child.name,
                    child.process.pid,
                    self._stop_timeout,
                )
                child.process.kill()
                child.process.join()
            elif child.ready and child.process.exitcode != 0:  # (one never ready failed to start)
                supervisor_logger.warning(
                    "%s (pid %d) %s while stopping",
                    child.name,
                    child.process.pid,
                    describe_exit(child.process.exitcode),
                )
        for child in children:
            if child.reader is not None:
                child.reader.close()
                child.reader = None


# Python's cyclic collector runs a young-generation pass every 700 new container objects by
# default: parsing one 1,000-server listing (about 15,000 dicts and lists) triggered some
# twenty passes, and the older generations' passes walked every listing still in flight
# in other requests. JSON trees have no cycles, so collecting that often buys nothing.
# Measured (benchmarks/PROFILE.md): GET compute/flavors/ -17 % CPU per request, the
# 1,000-server listing -46 %; peak memory unchanged.
GC_THRESHOLDS = (50_000, 20, 20)


def tune_gc() -> None:
    """Once the app is built: move everything alive (modules, routes, schemas, the OpenAPI
    document) out of the collector's sight, and collect young objects less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
