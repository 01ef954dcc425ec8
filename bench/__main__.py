"""python -m bench: run the benchmarks and print the figures (see bench/README.md)."""

from bench.runner import main

raise SystemExit(main())
