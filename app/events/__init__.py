"""The claim event log's readers and the notifiers that wake them (in-process, PostgreSQL LISTEN/NOTIFY)."""
