"""placeholder"""

from proxy import hookimpl


@hookimpl
def nhn_proxy_routes(settings):
    return []
