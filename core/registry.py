"""Every table of every context in one metadata (for Alembic and the schema test)."""

from sqlmodel import SQLModel

import builder.models  # noqa: F401
import core.models  # noqa: F401
import orgs.models  # noqa: F401
import retrieval.models  # noqa: F401
import store.models  # noqa: F401
import tools.approvals
import tools.models  # noqa: F401

metadata = SQLModel.metadata
