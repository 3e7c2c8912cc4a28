"""Alembic migrations of gptstore (run them with `gptstore db upgrade`)."""
