"""The task model of design §4: one long-running operation a browser can follow."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any


class TaskStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    INTERRUPTED = "interrupted"

    @property
    def settled(self) -> bool:
        return self not in (TaskStatus.PENDING, TaskStatus.RUNNING)


@dataclass
class Task:
    """What the store keeps. `owner` is a keyed hash of the caller's token and tenant —
    never the token itself; `replica` is the id of the process running the task."""

    id: str
    operation: str
    status: TaskStatus
    owner: str
    replica: str
    created_at: str  # ISO 8601 UTC with "Z"
    updated_at: str
    resource: dict[str, Any] | None = None  # {"type": "instance", "id": "..."}
    result: Any = None  # the settled resource in the public shape
    error: dict[str, Any] | None = None  # {"error": message, "code": status}
    version: int = 0  # bumped on every change; the SSE event id
    deadline: float = 0.0  # epoch seconds; past it an unsettled task is timed_out
    extra: dict[str, Any] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        """The `{"task": {...}}` body fields (design §4)."""
        return {
            "id": self.id,
            "operation": self.operation,
            "status": str(self.status),
            "resource": self.resource,
            "result": self.result,
            "error": self.error,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    def to_record(self) -> dict[str, Any]:
        record = asdict(self)
        record["status"] = str(self.status)
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Task:
        return cls(**{**record, "status": TaskStatus(record["status"])})
