"""Persistence: SQLModel tables, engine setup and Alembic migrations (SQLite or PostgreSQL)."""
