"""Every table of every context in one metadata (for Alembic and the schema test)."""

from sqlmodel import SQLModel

import core.models  # noqa: F401

metadata = SQLModel.metadata
