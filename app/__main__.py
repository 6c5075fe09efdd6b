"""``python -m app``: start the workbench and the REST API on one port (see ``app.launcher``)."""

from __future__ import annotations

import sys

from app.launcher import main

if __name__ == "__main__":
    sys.exit(main())
