"""`python -m farm` is the `farm` command."""

from farm.cli import main

raise SystemExit(main())
