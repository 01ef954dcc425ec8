"""Benchmarks of reelhook's ingest and fan-out paths, with their own runner: `python -m bench`.

Never imported by the installed package; timings never become test assertions.
"""
