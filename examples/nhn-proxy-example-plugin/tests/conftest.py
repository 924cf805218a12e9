"""The proxy's test kit: an in-process emulator, the proxy with this plugin (installed, so
found through its entry point) and a client holding a demo token."""

pytest_plugins = ["nhn_proxy.testing"]
