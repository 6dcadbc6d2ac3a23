"""Baseline: the store's tables as of faceledger 0.1 (collections, faces, users, images, the
deletion log, the audit outbox, lifecycle, idempotency, crops, video jobs, footage).

Revision ID: s0001
"""

from alembic import op

revision = "s0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    from faceledger.sql.migrate import ddl_for
    from faceledger.store.schema import create

    create(ddl_for(op.get_bind()))


def downgrade() -> None:
    raise NotImplementedError("the baseline is not undone; restore a backup instead")
