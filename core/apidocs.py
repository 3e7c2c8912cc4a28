"""The API docs (`/schema`): Swagger UI served from the installed `swagger-ui-bundle-v2` package, so the
page works offline and loads nothing from a CDN."""

from __future__ import annotations

from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router
from swagger_ui_bundle import swagger_ui_path

ASSETS_PATH = "/static/swagger-ui"


def assets_router():
    """`GET /static/swagger-ui/<file>`: the Swagger UI distribution (JS, CSS, icons)."""
    return create_static_files_router(
        path=ASSETS_PATH, directories=[swagger_ui_path], name="swagger-ui-assets", include_in_schema=False
    )


def openapi_config() -> OpenAPIConfig:
    swagger = SwaggerRenderPlugin(
        js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
        path="/swagger",
    )
    return OpenAPIConfig(
        title="gptstore",
        version="0.1.0",
        description="Build custom GPTs by chatting, ground them in your data, publish them in a store.",
        path="/schema",
        render_plugins=[swagger],  # the first plugin also answers `/schema` itself
    )
