"""The HTTP API (and, later, the web pages): `aidflow serve` (aidflow.server.app)."""
