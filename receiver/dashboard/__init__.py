"""The operator's dashboard at /dashboard: server-rendered pages, forms and a live stream."""
