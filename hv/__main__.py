"""`python -m hv`: the same as the `hv` command."""

from hv.cli import main

raise SystemExit(main())
