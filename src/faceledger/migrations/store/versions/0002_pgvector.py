"""PostgreSQL with pgvector: each face's embedding also as a ``vector(128)``, for the opt-in
approximate search (HNSW, one partial index per collection). Nothing changes on SQLite, nor
where the pgvector extension is not available (approximate search then stays in memory).

Revision ID: s0002
"""

from alembic import op

revision = "s0002"
down_revision = "s0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from faceledger.store.pgvector import add_vector_column

    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        add_vector_column(bind)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql("ALTER TABLE faces DROP COLUMN IF EXISTS embedding_v")
