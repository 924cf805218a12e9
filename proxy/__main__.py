"""`python -m proxy` is the `nhn-proxy` command."""

import sys

from proxy.cli import main

sys.exit(main())
