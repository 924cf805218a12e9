"""Identity's state: the users the emulator accepts and the tokens it has issued.

A user has two tenants (compute/infrastructure and Object Storage); a token is scoped to
one of them, and only the storage tenant's token reaches Object Storage.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from nhn_proxy.emulator.base import hex32
from nhn_proxy.emulator.options import DemoUser, EmulatorOptions


@dataclass
class Token:
    id: str
    tenant_id: str
    user: DemoUser
    issued_at: float
    expires_at: float
    storage: bool

    @property
    def user_id(self) -> str:
        """Keystone's id of the token's user (what Nova and Magnum record as owner)."""
        return user_id(self.user)


def stable_hex(*parts: str, length: int = 32) -> str:
    return hashlib.sha256(":".join(parts).encode()).hexdigest()[:length]


def stable_uuid(text: str) -> str:
    raw = stable_hex("uuid", text)
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"


def tenant_name(tenant_id: str) -> str:
    """NHN's internal project name (``c_VKkasVsh``), stable per tenant."""
    return "c_" + stable_hex("name", tenant_id, length=8)


def user_id(user: DemoUser) -> str:
    return stable_hex("user", user.username)


class IdentityState:
    """Issued tokens (global, like the identity endpoint itself)."""

    def __init__(self, options: EmulatorOptions) -> None:
        self.options = options
        self.tokens: dict[str, Token] = {}

    def find_user(self, username: str, password: str) -> DemoUser | None:
        for user in self.options.users:
            if user.username == username and user.password == password:
                return user
        return None

    def issue(self, user: DemoUser, tenant_id: str, now: float) -> Token:
        token = Token(
            id=hex32(),
            tenant_id=tenant_id,
            user=user,
            issued_at=now,
            expires_at=now + self.options.token_lifetime,
            storage=tenant_id == user.storage_tenant_id,
        )
        self.tokens[token.id] = token
        return token

    def validate(self, token_id: str | None, now: float) -> Token | None:
        """The live token named ``token_id``, or None when missing, unknown or expired."""
        if not token_id:
            return None
        token = self.tokens.get(token_id)
        if token is None or now >= token.expires_at:
            return None
        return token
