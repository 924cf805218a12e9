"""The supervisor of `serve --workers N` must notice every death of a worker, whatever
order the signs of it arrive in (its pipe closing, its exit)."""

from __future__ import annotations

import time

from nhn_proxy.server import Supervisor, _Child


def test_a_worker_whose_pipe_closed_before_it_exited_still_wakes_the_supervisor() -> None:
    # The race: the supervisor sees the pipe's EOF (and closes its end) a moment before the
    # worker is a zombie, so that look finds it alive; at the next look, building the list
    # of what to wait for reaps it. Nothing of it may then be missing from that list, or the
    # supervisor sleeps on, and the death is never logged nor the worker restarted.
    with Supervisor(stop_timeout=1.0) as supervisor:
        child = _Child("worker 1", lambda channel: 0, index=1)
        supervisor._workers = [child]
        supervisor._fork(child)
        assert child.reader is not None and child.process is not None
        child.reader.close()  # what _receive does on the EOF
        child.reader = None
        child.process.join()  # it has exited (and is reaped)
        started = time.monotonic()
        supervisor._wait(3.0)
        assert time.monotonic() - started < 1.0, "the supervisor slept through a death"
        assert not child.alive
