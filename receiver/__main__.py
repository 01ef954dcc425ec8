"""python -m receiver: the same as the reelhook command."""

from receiver.cli.commands import main

raise SystemExit(main())
