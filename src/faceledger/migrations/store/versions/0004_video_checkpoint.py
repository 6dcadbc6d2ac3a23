"""Video search jobs keep a checkpoint (progress, finished tracks, tracker state) so a job
interrupted by a restart continues from it: ``video_jobs.checkpoint``.

Revision ID: s0004
"""

from alembic import op

revision = "s0004"
down_revision = "s0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from faceledger.sql.migrate import ddl_for

    ddl_for(op.get_bind()).add_columns("video_jobs", {"checkpoint": "TEXT"})


def downgrade() -> None:
    op.get_bind().exec_driver_sql("ALTER TABLE video_jobs DROP COLUMN checkpoint")
