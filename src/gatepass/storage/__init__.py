"""Storage: narrow async contracts (``base``) and their backends (memory, SQL, Redis)."""
