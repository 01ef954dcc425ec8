"""The operator's dashboard, rendered and in a real browser."""
