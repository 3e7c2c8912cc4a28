"""The ids `/v1` and MCP answer with for the store's conversations and their messages, in OpenAI's forms
(`conv_<hex>`, `msg_<hex>`), and the ids they take: those forms or the bare UUID the web app uses."""

from __future__ import annotations

import uuid

CONVERSATION_PREFIX = "conv_"


def conversation_public_id(conversation_id: uuid.UUID) -> str:
    """The id `/v1` and MCP answer with: `conv_<32 hex digits>`, as OpenAI writes conversation ids."""
    return CONVERSATION_PREFIX + conversation_id.hex


def conversation_key(value: str | None) -> uuid.UUID | None:
    """The conversation a given id names: `conv_<hex>` or the bare UUID (as the web app's URLs show it, in any
    form `uuid.UUID` reads); None for anything else."""
    try:
        return uuid.UUID(str(value).removeprefix(CONVERSATION_PREFIX))
    except ValueError:
        return None


ITEM_PREFIX = "msg_"


def item_public_id(message_id: uuid.UUID) -> str:
    """The id `/v1` answers for a conversation item: `msg_<32 hex digits>`, as OpenAI writes message ids, and
    the id of the same message in the `output` (or input items) of the response that added it."""
    return ITEM_PREFIX + message_id.hex


def item_key(value: str | None) -> uuid.UUID | None:
    """The message an item id names: `msg_<hex>` or the bare UUID (in any form `uuid.UUID` reads); None for
    anything else."""
    try:
        return uuid.UUID(str(value).removeprefix(ITEM_PREFIX))
    except ValueError:
        return None
