"""Object Storage's state: the storage accounts of one region, their containers and
objects (expired objects vanish when read).

State is keyed by storage account (``AUTH_<storage tenant id>``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_CONTAINER_NAME = 256
MAX_OBJECT_NAME = 1024
MAX_LISTING = 10_000
# Swift accepts objects up to 5 GiB (the app sizes its body limit by it).
MAX_FILE_SIZE = 5_368_709_122


@dataclass
class StoredObject:
    data: bytes
    etag: str
    content_type: str
    modified: float
    meta: dict[str, str] = field(default_factory=dict)
    delete_at: int | None = None


@dataclass
class Container:
    name: str
    created: float
    policy: str = "Standard"
    headers: dict[str, str] = field(default_factory=dict)
    objects: dict[str, StoredObject] = field(default_factory=dict)

    def live_objects(self, now: float) -> dict[str, StoredObject]:
        expired = [
            n for n, o in self.objects.items() if o.delete_at is not None and o.delete_at <= now
        ]
        for name in expired:
            del self.objects[name]
        return self.objects

    def bytes_used(self) -> int:
        return sum(len(o.data) for o in self.objects.values())


@dataclass
class Account:
    created: float
    containers: dict[str, Container] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)


class ObjectStorageState:
    """Storage accounts of one region."""

    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}

    def account(self, name: str, now: float) -> Account:
        return self.accounts.setdefault(name, Account(created=now))
