import pytest

from core.settings import Settings
from tests.asgi import app_client_for
from tests.tools.chatkit import tool_client, tool_settings  # noqa: F401
from tests.tools.servers import loopback_settings, mcp_server, tools_api, trips_api_server  # noqa: F401
from tools.actions import TOKENS
from web.session import CSRF_COOKIE


@pytest.fixture
def plain_settings(tmp_path) -> Settings:
    """Settings as shipped (nothing private allowed), without the database the app-level fixtures start."""
    return Settings(data_dir=tmp_path, llm_provider="offline")


@pytest.fixture
def tools_settings(plain_settings: Settings) -> Settings:
    return loopback_settings(plain_settings)


@pytest.fixture
def app_settings(settings: Settings) -> Settings:
    """The app's settings (test database, secret key) with 127.0.0.1 allowed for tools."""
    return loopback_settings(settings)


@pytest.fixture
async def tools_client(app_settings, db, redis):
    """The app with 127.0.0.1 allowed for tools (the local test servers)."""
    async with app_client_for(app_settings, db=db, redis=redis) as client:
        yield client


@pytest.fixture(autouse=True)
def _fresh_tokens():
    TOKENS.clear()
    yield
    TOKENS.clear()


HTML = {"Accept": "text/html,application/xhtml+xml"}


@pytest.fixture
async def web(app_settings, db, redis, creator):
    """A browser-like client, logged in as the creator, with 127.0.0.1 allowed for tools."""
    async with app_client_for(app_settings, db=db, redis=redis) as client:
        await client.get("/login", headers=HTML)
        form = {
            "email": creator.email,
            "password": "correct horse battery",  # tests.factories
            "csrf_token": client.cookies[CSRF_COOKIE],
            "next": "/",
        }
        assert (await client.post("/login", data=form, headers=HTML)).status_code == 303
        yield client
