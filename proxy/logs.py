"""Logging that is useful for debugging and never carries a secret.

Two layers keep secrets out: structured bodies are passed through `redact()` before they
are logged, and a filter on every handler replaces, in the final text of each record, the
secret values the current request has registered (`register_secret`) and anything shaped
like a private key or kubeconfig credential. The second layer catches what the first
missed, e.g. a token echoed back inside an upstream error message.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from nhn_proxy.settings import LoggingSettings

MASK = "***"
access_logger = logging.getLogger("nhn_proxy.access")
upstream_logger = logging.getLogger("nhn_proxy.upstream")

# keys whose values are secrets wherever they appear in a JSON body (compared lower-case)
SECRET_KEYS = frozenset(
    {
        "password",
        "token",
        "x-auth-token",
        "x-nhn-token",
        "config",
        "kubeconfig",
        "private_key",
        "adminpass",
        "client-key-data",
        "client-certificate-data",
        "secret",
        "user_data",
    }
)
_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|$)", re.S
)
_KUBE_CREDENTIAL = re.compile(
    r"((?:client-key-data|client-certificate-data|token)\s*:\s*)\S+", re.I
)
_request_secrets: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "nhn_proxy_request_secrets", default=()
)
MIN_SECRET_LENGTH = 4  # shorter strings would mask ordinary words


def register_secret(*values: str | None) -> None:
    """Mask these values in every log line written while handling the current request."""
    fresh = tuple(v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LENGTH)
    if fresh:
        _request_secrets.set(_request_secrets.get() + fresh)


@contextlib.contextmanager
def secret_scope() -> Iterator[None]:
    """Start a request with no registered secrets; forget them when it ends."""
    token = _request_secrets.set(())
    try:
        yield
    finally:
        _request_secrets.reset(token)


def redact(value: Any, *, parent: str = "") -> Any:
    """A copy of a JSON-like value with secret fields replaced by `***`.

    `id` counts as secret under `token` (Keystone's `access.token.id` is the token itself).
    """
    if isinstance(value, Mapping):
        result = {}
        for key, item in value.items():
            lowered = str(key).lower()
            if (lowered in SECRET_KEYS and not isinstance(item, Mapping)) or (
                parent == "token" and lowered == "id"
            ):
                result[key] = MASK
            else:
                result[key] = redact(item, parent=lowered)
        return result
    if isinstance(value, list):
        return [redact(item, parent=parent) for item in value]
    if isinstance(value, str):
        return scrub(value)
    return value


def redact_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {
        key: (MASK if key.lower() in SECRET_KEYS or key.lower() == "authorization" else value)
        for key, value in headers
    }


def scrub(text: str) -> str:
    """Mask registered secrets, private keys and kubeconfig credentials inside free text."""
    for secret in _request_secrets.get():
        if secret in text:
            text = text.replace(secret, MASK)
    if "PRIVATE KEY" in text:
        text = _PRIVATE_KEY.sub(MASK, text)
    if "-data" in text or "token" in text.lower():
        text = _KUBE_CREDENTIAL.sub(lambda m: m.group(1) + MASK, text)
    return text


def body_for_log(body: bytes | str | None, limit: int = 4096) -> Any:
    """A loggable, redacted form of a body: parsed JSON when it is JSON, text otherwise."""
    if not body:
        return None
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        return redact(json.loads(text))
    except ValueError:
        text = scrub(text)
        return text if len(text) <= limit else text[:limit] + "…"


class SecretFilter(logging.Filter):
    """Last line of defence: rewrite each record's final text with secrets masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        fields = getattr(record, "fields", None)
        if fields:
            record.fields = redact(fields)
        if record.exc_info and record.exc_info[1] is not None:
            # tracebacks may quote values; format now, scrub, and drop the raw exception
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "fields", None)
        if fields:
            extra = " ".join(f"{key}={_compact(value)}" for key, value in fields.items())
            line = f"{line} {extra}"
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            entry.update(fields)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str, ensure_ascii=False)


def _compact(value: Any) -> str:
    if isinstance(value, str):
        return value if value and " " not in value else json.dumps(value, ensure_ascii=False)
    return json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":"))


def setup_logging(settings: LoggingSettings, stream: Any = None) -> None:
    """Configure the root logger: one stderr handler, the chosen format, secrets masked."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if settings.format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(SecretFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "nhn_proxy", False):
            root.removeHandler(old)
    handler.nhn_proxy = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(settings.level)
    # aiohttp's own access log would duplicate ours, without request ids
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


class _ProcessFields(logging.Filter):
    """Adds fixed fields (a worker's number and pid) to every record of this process, so
    the lines several workers write to one stderr can be told apart."""

    def __init__(self, fields: dict[str, Any]) -> None:
        super().__init__()
        self.fields = fields

    def filter(self, record: logging.LogRecord) -> bool:
        record.fields = {**(getattr(record, "fields", None) or {}), **self.fields}
        return True


def tag_log_lines(**fields: Any) -> None:
    """Every line this process logs from now on carries `fields` (text: `key=value` at the
    end; JSON: keys of the object). Call after `setup_logging`."""
    for handler in logging.getLogger().handlers:
        if getattr(handler, "nhn_proxy", False):
            handler.addFilter(_ProcessFields(fields))
