"""Where the data lives: SQLite files in the data folder (the embedded default) or one
PostgreSQL database named by ``FACELEDGER_DATABASE_URL``.

The stores write one dialect of SQL that both engines accept (``?`` placeholders,
``INSERT ... ON CONFLICT``, ``RETURNING``); :mod:`faceledger.sql.postgres` gives a PostgreSQL
connection the same small interface as :mod:`sqlite3`'s, and :mod:`faceledger.sql.migrate`
brings either schema to its head revision with Alembic.
"""
