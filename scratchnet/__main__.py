"""``python -m scratchnet``: the command-line interface (see :mod:`scratchnet.cli`)."""

from .cli import main

raise SystemExit(main())
