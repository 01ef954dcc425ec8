"""python -m receiver: the same as the reelhook command."""

from receiver.cli import main

raise SystemExit(main())
