"""Baseline: the governance tables as of faceledger 0.1 (organizations, accounts, API keys,
SigV4 keys, leads and reviews, rate limits, the audit log and its append-only triggers).

Revision ID: g0001
"""

from alembic import op

revision = "g0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    from faceledger.governance.schema import create
    from faceledger.sql.migrate import ddl_for

    create(ddl_for(op.get_bind()))


def downgrade() -> None:
    raise NotImplementedError("the baseline is not undone; restore a backup instead")
