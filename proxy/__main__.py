"""`python -m nhn_proxy` is the `nhn-proxy` command."""

import sys

from nhn_proxy.cli import main

sys.exit(main())
