"""The HTTP side: one handler module per resource, callbacks/ for what providers and
Standard Webhooks sources send, and the plumbing every route shares (bodies, paging, the edge)."""
