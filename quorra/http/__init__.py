"""REST API v1, health endpoints and /metrics (Litestar). Sees only the service and interfaces."""
