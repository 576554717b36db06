"""``quorractl``: not built yet (a REST client)."""
