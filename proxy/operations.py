"""What a route declares so that its long-running operation can run as an async task: how
to name the resource it acts on, and how to look at that resource until it settles."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nhn_proxy.call import Call


class PollState(enum.StrEnum):
    PENDING = "pending"  # not settled yet: poll again later
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Poll:
    """One look at the watched resource."""

    state: PollState
    result: Any = None  # the resource in its public shape (or None, e.g. once deleted)
    message: str | None = None  # why it failed, in NHN's words when there are any


@dataclass(frozen=True)
class Watcher:
    """How to follow one operation until it settles.

    `resource_id(call, payload)` names the resource from the payload the route's handler
    returned (None for a 204) and the call — e.g. the new server's id, or the path's
    `server_id`. `poll(call, resource_id)` looks at it once through `call.native` with the
    caller's token, and says whether it has settled. Upstream errors raised by `poll` count
    as a failed look: 401/403/404 end the task (unless the watcher turns a 404 into success
    itself), anything else is retried until the deadline.
    """

    resource_type: str
    resource_id: Callable[[Call, Any], str]
    poll: Callable[[Call, str], Awaitable[Poll]]
