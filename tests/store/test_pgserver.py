"""The tests' throwaway PostgreSQL server answers over its Unix socket."""

import psycopg
from pgserver import PgServer


def test_a_fresh_database_answers_on_the_unix_socket(pg_server: PgServer, pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert conn.execute("SELECT current_database()").fetchone()[0].startswith("t")
        assert conn.info.host == pg_server.socket_dir
        assert conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone() == (0,)
