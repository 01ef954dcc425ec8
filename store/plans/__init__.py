"""What the store does, written once for both databases: each plan reads, decides with the pure
rules (store/states.py, store/plans/outbox.py's tables) and writes, through the steps of
store/sql.py. store/sqlite/ and store/postgres/ only drive them."""
