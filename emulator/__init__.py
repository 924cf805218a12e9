"""In-memory emulator of NHN Cloud's native REST APIs (identity, compute, image, network,
NKS, object storage) with a ``/_emulator`` control plane — the "moto of NHN Cloud".

Start it with ``create_app()`` and point the proxy's upstream endpoints at
``endpoints(base_url)``. This package root is the emulator's one entry point: the proxy's
CLI and the plugin authors' test kit use nothing else of it.

Layout (moto's): one package per emulated service — ``identity``, ``compute``, ``image``,
``network``, ``kubernetes``, ``object_storage``, ``block_storage`` — each with ``models``
(its state and resources), ``responses`` (its request handlers) and ``routes`` (its URL
table). The shared machinery stays here: ``app`` (dispatch), ``base`` (clock, ids, routing,
the handler context), ``control`` (the ``/_emulator`` plane), ``errors`` (each service's
error bodies), ``options`` and ``state`` (every region's service states). A service never
imports another service's responses or routes: it reaches another service's resources
through the region's state (``ctx.regional.network``, ``RegionState`` in ``settle``).
"""

from nhn_proxy.emulator.app import create_app, endpoints
from nhn_proxy.emulator.options import (
    DEMO_KEYPAIR,
    DEMO_PASSWORD,
    DEMO_STORAGE_TENANT_ID,
    DEMO_TENANT_ID,
    DEMO_USERNAME,
    DemoUser,
    EmulatorOptions,
    options_from_settings,
)


def demo_account() -> dict[str, str]:
    """The demo user's login, tenants and key pair, as plain values (for the proxy's CLI)."""
    return {
        "username": DEMO_USERNAME,
        "password": DEMO_PASSWORD,
        "tenant_id": DEMO_TENANT_ID,
        "storage_tenant_id": DEMO_STORAGE_TENANT_ID,
        "keypair_name": DEMO_KEYPAIR,
    }


__all__ = [
    "DEMO_KEYPAIR",
    "DEMO_PASSWORD",
    "DEMO_STORAGE_TENANT_ID",
    "DEMO_TENANT_ID",
    "DEMO_USERNAME",
    "DemoUser",
    "EmulatorOptions",
    "create_app",
    "demo_account",
    "endpoints",
    "options_from_settings",
]
