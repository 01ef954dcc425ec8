"""The benchmarks keep working (never their timings)."""
