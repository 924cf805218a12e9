"""Object Storage's state: the storage accounts of one region, their containers and
objects (expired objects vanish when read).

State is keyed by storage account (``AUTH_<storage tenant id>``). An object's bytes are a
`Blob`, written once and then only read: up to `SPOOL_BYTES` in memory, anything larger in
a temporary file of its own (in one directory per emulator process), so a test can store a
gigabyte without holding it in RAM. A blob's file is deleted as soon as no object uses it
any more (overwritten, deleted, expired, the emulator reset) and the directory when the
process exits.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

MAX_CONTAINER_NAME = 256
MAX_OBJECT_NAME = 1024
MAX_LISTING = 10_000
# Swift's MAX_FILE_SIZE: a single object (not a segmented one) holds at most 5 GiB + 2 bytes.
MAX_FILE_SIZE = 5_368_709_122
# Objects up to this size stay in memory; larger ones are spooled to a temporary file.
SPOOL_BYTES = 1024 * 1024
READ_CHUNK = 256 * 1024

_directory: str | None = None


def blob_directory() -> str:
    """This process's directory of object files, made on first use, removed at exit."""
    global _directory
    if _directory is None or not os.path.isdir(_directory):
        _directory = tempfile.mkdtemp(prefix="nhn-emulator-objects-")
        atexit.register(shutil.rmtree, _directory, ignore_errors=True)
    return _directory


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


class Blob:
    """The bytes of one or more objects (a copy shares its source's blob): `size`, the hex
    MD5 `etag`, and `read(start, end)` in pieces. Its file, if it has one, goes with it."""

    __slots__ = ("__weakref__", "_data", "etag", "path", "size")

    def __init__(
        self, etag: str, size: int, *, data: bytes | None = None, path: str | None = None
    ) -> None:
        self.etag = etag
        self.size = size
        self._data = data
        self.path = path
        if path is not None:
            weakref.finalize(self, _unlink, path)

    @classmethod
    def of(cls, data: bytes) -> Blob:
        """A small blob from bytes at hand."""
        writer = BlobWriter()
        writer.write(data)
        return writer.finish()

    def read(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Bytes `start` to `end` (inclusive; None = the last), piece by piece."""
        stop = self.size if end is None else min(end + 1, self.size)
        if self._data is not None:
            for offset in range(start, stop, READ_CHUNK):
                yield self._data[offset : min(offset + READ_CHUNK, stop)]
            return
        assert self.path is not None
        with open(self.path, "rb") as source:  # each reader has its own position
            source.seek(start)
            left = stop - start
            while left > 0:
                piece = source.read(min(READ_CHUNK, left))
                if not piece:
                    raise OSError(f"object file {self.path} is shorter than {self.size} bytes")
                left -= len(piece)
                yield piece

    def bytes(self) -> bytes:
        """The whole content (tests and small objects only)."""
        return b"".join(self.read())


class BlobWriter:
    """Builds a blob from pieces as they arrive, counting and hashing them; past
    `SPOOL_BYTES` the pieces go to a temporary file. `discard` drops a body that ended
    early: nothing of it stays."""

    def __init__(self) -> None:
        self.size = 0
        self._md5 = hashlib.md5()
        self._buffer = bytearray()
        self._file: BinaryIO | None = None
        self._path: str | None = None

    def write(self, piece: bytes) -> None:
        self.size += len(piece)
        self._md5.update(piece)
        if self._file is not None:
            self._file.write(piece)
            return
        self._buffer += piece
        if len(self._buffer) > SPOOL_BYTES:
            descriptor, self._path = tempfile.mkstemp(prefix="object-", dir=blob_directory())
            self._file = os.fdopen(descriptor, "wb")
            self._file.write(self._buffer)
            self._buffer = bytearray()

    @property
    def etag(self) -> str:
        return self._md5.hexdigest()

    def finish(self) -> Blob:
        if self._file is None:
            return Blob(self.etag, self.size, data=bytes(self._buffer))
        self._file.close()
        self._file = None
        return Blob(self.etag, self.size, path=self._path)

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._path is not None:
            _unlink(self._path)
            self._path = None
        self._buffer = bytearray()


@dataclass
class StoredObject:
    blob: Blob
    content_type: str
    modified: float
    meta: dict[str, str] = field(default_factory=dict)
    delete_at: int | None = None

    @property
    def etag(self) -> str:
        return self.blob.etag

    @property
    def size(self) -> int:
        return self.blob.size


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
        return sum(o.size for o in self.objects.values())


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
