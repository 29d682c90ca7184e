"""``python -m mesimp_engine`` is the same as the ``mesimp-engine`` console script."""

from mesimp_engine.cli import main

raise SystemExit(main())
