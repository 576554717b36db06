"""PostgreSQL plumbing shared by the archive and the Postgres broker: pool, SQL files, migrations."""
