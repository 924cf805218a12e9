"""nhn-cloud-proxy: one small REST API in front of NHN Cloud, for single-page apps.

Plugin authors import from `nhn_proxy.plugin` only; everything else here is internal.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
