"""Business rules. Services speak SQL and know nothing of HTTP."""
