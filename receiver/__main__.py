"""python -m receiver: the same as the reelhook command."""

from receiver.cli.main import main

raise SystemExit(main())
