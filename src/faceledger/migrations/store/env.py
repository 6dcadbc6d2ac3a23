"""Alembic environment of the store database (run by faceledger.sql.migrate)."""

from faceledger.sql.migrate import run_env

run_env("store")
