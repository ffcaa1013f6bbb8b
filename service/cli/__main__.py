"""``python -m service.cli``: how ``tidings up`` starts its parts."""

import os

from service.cli import main

os.environ.setdefault("PYTHONUNBUFFERED", "1")
main()
