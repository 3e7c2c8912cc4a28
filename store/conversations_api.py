"""`/v1/conversations`: OpenAI's Conversations API over the store chat's conversations (store.conversations).

Create (with up to 20 items and metadata), retrieve, update metadata, delete; items list (`limit` 1-100,
`order`, `after`), create, retrieve, delete. Per user: another user's conversation is a 404 as an unknown id
is. Errors in OpenAI's shape (`core.openai_errors`), parameters named in `param`; docs/api.md has the table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, get_args

from litestar import Controller, Request, delete, get, post
from litestar.di import Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from openai.types.responses.response_includable import ResponseIncludable
from pydantic import BaseModel, ConfigDict, Field
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import User
from core.settings import Settings
from retrieval.citations import site_of
from store.conversation_items import (
    check_metadata,
    conversation_object,
    conversation_public_id,
    item_list,
    item_object,
    items_schema,
    limits,
    metadata_schema,
    parse_items,
    refuse,
)
from store.conversations import ConversationService
from store.openai_api import OpenAIError

_ITEMS = limits()["items"]
ItemsLimit = Annotated[
    int,
    Parameter(
        ge=1, le=_ITEMS["list_max"], description=f"Items per page, 1-{_ITEMS['list_max']} (OpenAI's range)"
    ),
]
# OpenAI's values (the SDK's `ResponseIncludable`), accepted as OpenAI accepts them; items here are text
# messages, so none adds a field. `?include=` alone is the empty list as a query string writes it.
INCLUDABLE: tuple[str, ...] = get_args(ResponseIncludable)
IncludeValue = Literal[(*INCLUDABLE, "")]
Include = Annotated[
    list[IncludeValue] | None,
    Parameter(
        description="OpenAI's `include` values, accepted (items here are text messages with nothing more "
        "to include); any other value is a 400 naming `include`"
    ),
]


ERRORS = {
    400: "Invalid request: `param` names the parameter or item field",
    401: "Missing or invalid API key (`invalid_api_key`)",
    404: "No such conversation of the caller (`param: conversation_id`), item (`item_id`) or `after` item",
}


def _error_specs(*statuses: int) -> dict[int, ResponseSpec]:
    return {
        status: ResponseSpec(data_container=OpenAIError, description=ERRORS[status], generate_examples=False)
        for status in statuses
    }


def _closed(schema: dict[str, Any]) -> None:
    """Unknown parameters are refused (so `extra="allow"`, and the schema says they are not allowed);
    `items` and `metadata` are described as `parse_items` and `check_metadata` take them."""
    schema["additionalProperties"] = False
    properties = schema["properties"]
    for name, exact in (("items", items_schema()), ("metadata", metadata_schema())):
        if name in properties:
            nullable = name not in schema.get("required", [])
            properties[name] = {"anyOf": [exact, {"type": "null"}]} if nullable else exact


class ConversationCreate(BaseModel):
    """OpenAI's create request: initial `items` (messages, up to 20) and `metadata` (16 string pairs;
    `gpt_id` binds the conversation to that GPT)."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_closed)

    items: list[dict[str, Any]] | None = Field(default=None, max_length=_ITEMS["max_per_request"])
    metadata: dict[str, str] | None = None


def _closed_requiring(name: str) -> Callable[[dict[str, Any]], None]:
    """`_closed`, with `name` required in the schema: the model leaves it optional so that an unknown
    parameter beside a missing one is named first, as OpenAI does (`_no_extras`)."""

    def hook(schema: dict[str, Any]) -> None:
        schema["required"] = sorted({*schema.get("required", []), name})
        _closed(schema)

    return hook


class ConversationUpdate(BaseModel):
    """OpenAI's update request: the new `metadata`, replacing the old."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_closed_requiring("metadata"))

    metadata: dict[str, str] | None = None


class ItemsCreate(BaseModel):
    """OpenAI's items create request: up to 20 `items` to append."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_closed_requiring("items"))

    items: list[dict[str, Any]] | None = Field(default=None, max_length=_ITEMS["max_per_request"])


def _no_extras(body: BaseModel, required: str | None = None) -> None:
    """Refuse an unknown parameter (`unknown_parameter`), then a missing `required` one
    (`missing_required_parameter`, OpenAI's code)."""
    for name in body.model_extra or {}:
        raise refuse(f"Unrecognized request argument supplied: {name}", name, "unknown_parameter")
    if required is not None and getattr(body, required) is None:
        raise refuse(f"Missing required parameter: '{required}'.", required, "missing_required_parameter")


async def provide_conversations(
    db_session: AsyncSession, settings: Settings, redis: Redis
) -> ConversationService:
    return ConversationService(db_session, settings, redis)


class ConversationsController(Controller):
    path = "/v1/conversations"
    tags = ["openai-compatible"]
    dependencies = {"conversations": Provide(provide_conversations)}

    @post("/", status_code=200, responses=_error_specs(400, 401))
    async def create(
        self,
        data: ConversationCreate,
        current_user: User,
        conversations: ConversationService,
    ) -> dict[str, Any]:
        """A new conversation, with its first items; `metadata.gpt_id` binds it to a GPT at once."""
        _no_extras(data)
        items = parse_items(data.items or [])
        metadata = check_metadata(data.metadata or {})
        return conversation_object(await conversations.create(current_user, items, metadata))

    @get("/{conversation_id:str}", responses=_error_specs(401, 404))
    async def retrieve(
        self,
        conversation_id: str,
        current_user: User,
        conversations: ConversationService,
    ) -> dict[str, Any]:
        """One of the caller's conversations."""
        return conversation_object(await conversations.owned(current_user, conversation_id))

    @post("/{conversation_id:str}", status_code=200, responses=_error_specs(400, 401, 404))
    async def update(
        self,
        conversation_id: str,
        data: ConversationUpdate,
        current_user: User,
        conversations: ConversationService,
    ) -> dict[str, Any]:
        """Replace the conversation's metadata."""
        _no_extras(data, required="metadata")
        metadata = check_metadata(data.metadata or {})
        return conversation_object(await conversations.update(current_user, conversation_id, metadata))

    @delete("/{conversation_id:str}", status_code=200, responses=_error_specs(401, 404))
    async def delete_conversation(
        self,
        conversation_id: str,
        current_user: User,
        conversations: ConversationService,
    ) -> dict[str, Any]:
        """Delete the conversation and its items."""
        deleted = await conversations.delete(current_user, conversation_id)
        return {"id": conversation_public_id(deleted), "object": "conversation.deleted", "deleted": True}

    @get("/{conversation_id:str}/items", responses=_error_specs(400, 401, 404))
    async def list_items(
        self,
        request: Request,
        conversation_id: str,
        current_user: User,
        conversations: ConversationService,
        limit: ItemsLimit = _ITEMS["list_default"],
        order: Literal["asc", "desc"] = "desc",
        after: Annotated[str | None, Parameter(min_length=1, max_length=100)] = None,
        include: Include = None,
    ) -> dict[str, Any]:
        """The conversation's items, newest first by default; `after` an item id, for the next page."""
        conversation = await conversations.owned(current_user, conversation_id)
        rows, has_more = await conversations.items_page(conversation, limit, order, after)
        return item_list(rows, has_more, site_of(request.base_url))

    @post("/{conversation_id:str}/items", status_code=200, responses=_error_specs(400, 401, 404))
    async def create_items(
        self,
        request: Request,
        conversation_id: str,
        data: ItemsCreate,
        current_user: User,
        conversations: ConversationService,
        include: Include = None,
    ) -> dict[str, Any]:
        """Append up to 20 items, in order; answers the list of the items added."""
        _no_extras(data, required="items")
        items = parse_items(data.items or [])
        conversation = await conversations.owned(current_user, conversation_id)
        added = await conversations.append(conversation, items)
        return item_list(added, has_more=False, site=site_of(request.base_url))

    @get("/{conversation_id:str}/items/{item_id:str}", responses=_error_specs(400, 401, 404))
    async def retrieve_item(
        self,
        request: Request,
        conversation_id: str,
        item_id: str,
        current_user: User,
        conversations: ConversationService,
        include: Include = None,
    ) -> dict[str, Any]:
        """One item of the conversation."""
        conversation = await conversations.owned(current_user, conversation_id)
        return item_object(await conversations.item(conversation, item_id), site_of(request.base_url))

    @delete("/{conversation_id:str}/items/{item_id:str}", status_code=200, responses=_error_specs(401, 404))
    async def delete_item(
        self,
        conversation_id: str,
        item_id: str,
        current_user: User,
        conversations: ConversationService,
    ) -> dict[str, Any]:
        """Delete one item; answers the conversation, as OpenAI does."""
        conversation = await conversations.owned(current_user, conversation_id)
        await conversations.delete_item(conversation, item_id)
        return conversation_object(conversation)


route_handlers = [ConversationsController]
