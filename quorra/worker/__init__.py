"""Python worker SDK and ``quorra-worker``: not built yet (a gRPC client of the worker protocol)."""
