"""Alembic migrations of faceledger's two databases: ``store`` (collections, faces, users,
lifecycle, video) and ``governance`` (principals, leads, rate limits, the audit log).

Each folder is an Alembic script directory with its own version table
(``alembic_version_store``, ``alembic_version_governance``), so on PostgreSQL both live in one
database. They run by themselves when a store or governance database is opened
(:func:`faceledger.sql.migrate.upgrade`); ``faceledger db upgrade`` runs them on demand.
A schema change is a new revision file here; update ``HEADS`` in ``faceledger.sql.migrate``.
"""
