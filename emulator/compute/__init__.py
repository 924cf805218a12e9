"""Compute (Nova, legacy ``/v2/{tenantId}``): flavors, zones, key pairs, servers and the
version documents.

``seed_flavors`` stays importable from here (the benchmark fixtures use NHN's flavor list).
"""

from nhn_proxy.emulator.compute.models import seed_flavors

__all__ = ["seed_flavors"]
