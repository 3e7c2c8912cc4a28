import pytest

from core.settings import Settings
from tests.tools.chatkit import tool_client, tool_settings  # noqa: F401
from tests.tools.servers import loopback_settings, mcp_server, tools_api, trips_api_server  # noqa: F401
from tools.actions import TOKENS


@pytest.fixture
def plain_settings(tmp_path) -> Settings:
    """Settings as shipped (nothing private allowed), without the database the app-level fixtures start."""
    return Settings(data_dir=tmp_path, llm_provider="offline")


@pytest.fixture
def tools_settings(plain_settings: Settings) -> Settings:
    return loopback_settings(plain_settings)


@pytest.fixture(autouse=True)
def _fresh_tokens():
    TOKENS.clear()
    yield
    TOKENS.clear()
