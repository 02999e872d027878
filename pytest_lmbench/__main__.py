"""``python -m pytest_lmbench show|diff|merge`` (``cli.py``)."""

from pytest_lmbench.cli import main

raise SystemExit(main())
