"""The store, on both databases: its contract, rules, schema and faults."""
