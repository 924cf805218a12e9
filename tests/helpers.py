"""Small helpers shared by the tests that start real servers."""

from __future__ import annotations

import os
import socket
from typing import NoReturn

import pytest


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unavailable(reason: str, *, allow_module_level: bool = False) -> NoReturn:
    """Skip a test whose tool is missing — but fail it in CI (`CI=true`, set by .ci/run),
    which installs every tool: there a skip would hide that the test never ran."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI installs it: see .ci/run)", pytrace=False)
    pytest.skip(reason, allow_module_level=allow_module_level)
