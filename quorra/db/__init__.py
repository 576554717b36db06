"""PostgreSQL plumbing for the archive and the Postgres broker: pool, SQL files, migrations."""
