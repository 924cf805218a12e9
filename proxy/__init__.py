"""nhn-cloud-proxy: one small REST API in front of NHN Cloud, for single-page apps.

Plugin authors import `hookimpl` (and `Route`, `Call`, … from `proxy.routing`) from here.
"""

from nhn_proxy.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["__version__", "hookimpl"]
