"""Identity (Keystone v2.0): token issue and the version documents of its root.

``models`` holds the token store every other service checks (through the emulator's
state, never by importing this package); ``responses`` the handlers; ``routes`` the URL
table the app dispatches ``/identity/...`` through.
"""
