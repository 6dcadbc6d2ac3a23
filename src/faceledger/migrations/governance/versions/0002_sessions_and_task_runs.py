"""Console sessions kept in the database (every server process sees a sign-in) and the turns
of periodic tasks (the retention purge runs once per interval, whichever process is first).

Revision ID: g0002
"""

from alembic import op

revision = "g0002"
down_revision = "g0001"
branch_labels = None
depends_on = None

SCHEMA = """
CREATE TABLE IF NOT EXISTS console_sessions (
    sid_sha256   TEXT PRIMARY KEY,
    principal_id TEXT NOT NULL,
    key_sealed   BLOB NOT NULL,
    csrf         TEXT NOT NULL,
    last_seen    REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS console_sessions_seen ON console_sessions (last_seen);
CREATE TABLE IF NOT EXISTS task_runs (
    task    TEXT PRIMARY KEY,
    next_at REAL NOT NULL
)
"""


def upgrade() -> None:
    from faceledger.sql.migrate import ddl_for

    ddl_for(op.get_bind()).run(SCHEMA)


def downgrade() -> None:
    bind = op.get_bind()
    bind.exec_driver_sql("DROP TABLE IF EXISTS console_sessions")
    bind.exec_driver_sql("DROP TABLE IF EXISTS task_runs")
