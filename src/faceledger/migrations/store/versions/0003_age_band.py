"""The age band an operator declared for a face at enrolment (never inferred from the image):
``faces.age_band``, NULL for faces stored before.

Revision ID: s0003
"""

from alembic import op

revision = "s0003"
down_revision = "s0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from faceledger.sql.migrate import ddl_for

    ddl_for(op.get_bind()).add_columns("faces", {"age_band": "TEXT"})


def downgrade() -> None:
    op.get_bind().exec_driver_sql("ALTER TABLE faces DROP COLUMN age_band")
