"""`/v1/conversations` with the official `openai` SDK: the store chat's conversations in OpenAI's shapes."""

from __future__ import annotations

import openai
import pytest
import sqlalchemy as sa

from core.errors import Invalid, NotFound
from core.llm import get_llm
from store import responses, responses_plan, usage
from store.chat import ChatService
from store.conversation_items import NewItem
from store.conversations import ConversationService
from store.models import ChatMessage, Conversation, StoredResponse
from store.openai_ids import conversation_key
from store.responses_output import events
from store.responses_params import CreateResponseRequest
from tests.factories import auth_headers, create_user
from tests.store.conftest import sdk_for
from tests.store.factories import create_conversation, create_published_gpt
from tests.web.test_pages import HTML, log_in

ITEMS = [
    {"type": "message", "role": "system", "content": "Answer in short sentences."},
    {"role": "user", "content": "Which fjord is best in May?"},
    {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "Geirangerfjord.", "annotations": []}],
    },
]


async def test_create_retrieve_update_delete(sdk):
    created = await sdk.conversations.create(items=ITEMS, metadata={"topic": "trips"})
    assert created.object == "conversation" and created.metadata == {"topic": "trips"}
    assert created.created_at > 0

    fetched = await sdk.conversations.retrieve(created.id)
    assert fetched.id == created.id and fetched.metadata == {"topic": "trips"}

    updated = await sdk.conversations.update(created.id, metadata={"topic": "ferries", "lang": "en"})
    assert updated.metadata == {"topic": "ferries", "lang": "en"}
    assert (await sdk.conversations.retrieve(created.id)).metadata == {"topic": "ferries", "lang": "en"}
    for gpt_id in ("zzz", "5f0c1b7e-0000-4000-8000-000000000000"):  # binding is not metadata to edit
        with pytest.raises(openai.BadRequestError) as refused:
            await sdk.conversations.update(created.id, metadata={"gpt_id": gpt_id})
        assert refused.value.body["param"] == "metadata.gpt_id"

    deleted = await sdk.conversations.delete(created.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (created.id, "conversation.deleted", True)
    with pytest.raises(openai.NotFoundError) as caught:
        await sdk.conversations.retrieve(created.id)
    assert caught.value.body["param"] == "conversation_id"


async def test_items_create_list_retrieve_delete_and_page(sdk):
    conversation = await sdk.conversations.create(items=ITEMS)
    listed = await sdk.conversations.items.list(conversation.id, order="asc")
    assert [(i.role, i.content[0].text) for i in listed.data] == [
        ("system", "Answer in short sentences."),
        ("user", "Which fjord is best in May?"),
        ("assistant", "Geirangerfjord."),
    ]
    assert [i.content[0].type for i in listed.data] == ["input_text", "input_text", "output_text"]
    assert listed.first_id == listed.data[0].id and listed.last_id == listed.data[-1].id
    assert listed.has_more is False

    added = await sdk.conversations.items.create(
        conversation.id,
        items=[
            {"role": "user", "content": [{"type": "input_text", "text": f"Question {n}"}]} for n in range(4)
        ],
    )
    assert [i.content[0].text for i in added.data] == [f"Question {n}" for n in range(4)]

    # The SDK pages with `after` = the last id while `has_more`: every item once, in order.
    first = await sdk.conversations.items.list(conversation.id, limit=2, order="asc")
    assert len(first.data) == 2 and first.has_more
    every = [item.id async for item in sdk.conversations.items.list(conversation.id, limit=2, order="asc")]
    assert len(every) == 7 and len(set(every)) == 7
    newest_first = [item.id async for item in sdk.conversations.items.list(conversation.id, limit=3)]
    assert newest_first == every[::-1]  # `order` defaults to desc, as OpenAI's does

    one = await sdk.conversations.items.retrieve(every[1], conversation_id=conversation.id)
    assert one.id == every[1] and one.role == "user" and one.status == "completed"

    after_delete = await sdk.conversations.items.delete(every[1], conversation_id=conversation.id)
    assert after_delete.id == conversation.id and after_delete.object == "conversation"
    with pytest.raises(openai.NotFoundError):
        await sdk.conversations.items.retrieve(every[1], conversation_id=conversation.id)
    remaining = [item.id async for item in sdk.conversations.items.list(conversation.id, order="asc")]
    assert remaining == every[:1] + every[2:]


async def test_another_users_conversation_is_404(sdk, client, session, settings):
    conversation = await sdk.conversations.create(items=ITEMS[1:2])
    item_id = (await sdk.conversations.items.list(conversation.id)).data[0].id
    stranger = sdk_for(client, auth_headers(await create_user(session, settings), settings))
    calls = [
        stranger.conversations.retrieve(conversation.id),
        stranger.conversations.update(conversation.id, metadata={"x": "y"}),
        stranger.conversations.delete(conversation.id),
        stranger.conversations.items.list(conversation.id),
        stranger.conversations.items.create(conversation.id, items=ITEMS[1:2]),
        stranger.conversations.items.retrieve(item_id, conversation_id=conversation.id),
        stranger.conversations.items.delete(item_id, conversation_id=conversation.id),
        stranger.conversations.retrieve("not-an-id"),
    ]
    for call in calls:
        with pytest.raises(openai.NotFoundError):
            await call
    assert (await sdk.conversations.items.list(conversation.id)).data[0].id == item_id  # untouched


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"items": [ITEMS[1]] * 21}, "items"),
        ({"metadata": {f"k{n}": "v" for n in range(17)}}, "metadata"),
        ({"metadata": {"k" * 65: "v"}}, "metadata"),
        ({"metadata": {"k": "v" * 513}}, "metadata.k"),
        ({"metadata": {"k": 5}}, "metadata.k"),
        ({"items": [{"type": "function_call_output", "call_id": "c", "output": "x"}]}, "items[0].type"),
        ({"items": [{"role": "tool", "content": "x"}]}, "items[0].role"),
        (
            {"items": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]},
            "items[0].content[0]",
        ),
        ({"items": [{"role": "user", "content": "x", "name": "bob"}]}, "items[0].name"),
        ({"items": [{"role": "user"}]}, "items[0].content"),
        ({"items": [{"role": "user", "content": []}]}, "items[0].content"),
        ({"metadata": {"gpt_id": "no-such-gpt"}}, "metadata.gpt_id"),
        (
            {"items": [{"role": "user", "content": [{"type": "input_text", "text": "x", "logprobs": {}}]}]},
            "items[0].content[0].logprobs",
        ),
        (
            {
                "items": [
                    {
                        "role": "assistant",
                        "content": [
                            {
                                "type": "output_text",
                                "text": "x",
                                "annotations": [{"type": "file_citation", "file_id": "f", "filename": "a"}],
                            }
                        ],
                    }
                ]
            },
            "items[0].content[0].annotations[0].file_id",
        ),
        ({"tools": []}, "tools"),
        ({"items": [{"role": "user", "content": " \n"}]}, "items[0].content"),
        ({"items": [{"role": "user", "content": [{"type": "input_text", "text": " "}]}]}, "items[0].content"),
    ],
)
async def test_bad_requests_are_400_naming_the_param(client, creator_headers, body, param):
    response = await client.post("/v1/conversations", json=body, headers=creator_headers)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param, error


@pytest.mark.parametrize(
    ("query", "param"),
    [("limit=0", "limit"), ("limit=101", "limit"), ("order=sideways", "order"),
     ("include=message.output_text.everything", "include")],
)  # fmt: skip
async def test_bad_list_parameters_are_400(sdk, client, creator_headers, query, param):
    conversation = await sdk.conversations.create()
    response = await client.get(f"/v1/conversations/{conversation.id}/items?{query}", headers=creator_headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


async def test_they_are_the_store_chats_conversations(sdk, client, creator_headers, session, creator):
    gpt_id = str((await create_published_gpt(session, creator)).gpt_id)
    # Started in the store chat: listed under /v1 with its messages as items.
    started = (await client.post(f"/api/store/gpts/{gpt_id}/conversations", headers=creator_headers)).json()
    reply = await client.post(
        f"/api/conversations/{started['id']}/messages",
        json={"content": "Best fjord?"},
        headers=creator_headers,
    )
    assert reply.status_code == 200, reply.text
    items = (await sdk.conversations.items.list(started["id"], order="asc")).data
    assert [i.role for i in items] == ["user", "assistant"]
    assert items[1].content[0].text == reply.json()["message"]["content"]

    # Made under /v1 with a GPT: in the store chat's list, its items as messages, system text included.
    bound = await sdk.conversations.create(items=ITEMS, metadata={"gpt_id": gpt_id})
    unbound = await sdk.conversations.create(items=ITEMS)
    listed = {
        c["id"] for c in (await client.get("/api/conversations", headers=creator_headers)).json()["data"]
    }
    assert str(conversation_key(bound.id)) in listed and started["id"] in listed
    assert str(conversation_key(unbound.id)) not in listed  # no GPT yet: under /v1 until an answer binds one
    bound_uuid = conversation_key(bound.id)  # the store API and the web app name it by its UUID
    messages = (await client.get(f"/api/conversations/{bound_uuid}/messages", headers=creator_headers)).json()
    assert [m["role"] for m in messages["data"]] == ["system", "user", "assistant"]
    await log_in(client, creator.email)
    page = await client.get(f"/chats/{bound_uuid}", headers=HTML)
    assert (
        page.status_code == 200
        and "Geirangerfjord." in page.text
        and "Answer in short sentences." in page.text
    )
    assert (await client.get(f"/chats/{conversation_key(unbound.id)}", headers=HTML)).status_code == 404

    # Deleted under /v1: gone from the store chat too.
    await sdk.conversations.delete(bound.id)
    gone = await client.get(f"/api/conversations/{bound_uuid}/messages", headers=creator_headers)
    assert gone.status_code == 404


async def test_one_canonical_id_taken_in_both_forms(sdk, session, creator):
    """`conv_<hex>` is the id /v1 answers with everywhere; the bare UUID (the web app's) is taken too."""
    gpt_id = str((await create_published_gpt(session, creator)).gpt_id)
    created = await sdk.conversations.create(items=ITEMS)
    key = conversation_key(created.id)
    assert created.id == "conv_" + key.hex
    for given in (created.id, str(key), str(key).upper(), key.hex):
        assert (await sdk.conversations.retrieve(given)).id == created.id
        items = await sdk.conversations.items.list(given)
        assert len(items.data) == 3
    answered = await sdk.responses.create(model=gpt_id.upper(), input="Best fjord?", conversation=str(key))
    assert answered.conversation.id == created.id
    assert answered.model == gpt_id  # the id /v1/models lists, not the form sent
    again = await sdk.responses.create(
        model=f"urn:uuid:{gpt_id}", input="And in June?", conversation={"id": created.id}
    )
    assert again.conversation.id == created.id and again.model == gpt_id
    completion = await sdk.chat.completions.create(
        model=f"{{{gpt_id}}}", messages=[{"role": "user", "content": "Hi"}]
    )
    assert completion.model == gpt_id
    with pytest.raises(openai.BadRequestError) as caught:  # bound by the first answer: the message names it
        other = str((await create_published_gpt(session, creator, name="Other")).gpt_id)
        await sdk.responses.create(model=other, input="Hi", conversation=created.id)
    assert created.id in caught.value.message
    deleted = await sdk.conversations.delete(str(key))
    assert deleted.id == created.id


async def test_a_conversation_made_for_a_gpt_counts_with_its_first_answer(
    sdk, gpt_id, redis, client, creator, settings
):
    counted = f"{usage.PREFIX}:{usage._today()}:{gpt_id}"
    made = [await sdk.conversations.create(metadata={"gpt_id": gpt_id}) for _ in range(5)]
    assert b"conversations" not in await redis.hgetall(counted)  # made, never asked: not used
    await sdk.responses.create(model=gpt_id, input="Which fjord?", conversation=made[0].id)
    await sdk.responses.create(model=gpt_id, input="And when?", conversation=made[0].id)
    assert (await redis.hgetall(counted))[b"conversations"] == b"1"
    # answered first in the store's chat (the conversation's UUID is its web id): counted there, once
    url = f"/api/conversations/{made[1].id.removeprefix('conv_')}/messages"
    for question in ("Which fjord?", "And when?"):
        answered = await client.post(url, json={"content": question}, headers=auth_headers(creator, settings))
        assert answered.status_code == 200, answered.text
    assert (await redis.hgetall(counted))[b"conversations"] == b"2"


async def test_binding_on_first_use_for_responses(session, settings, redis, creator):
    """What `/v1/responses` does with its `conversation`: bind, read the transcript, append the turn."""
    first = (await create_published_gpt(session, creator)).gpt_id
    second = (await create_published_gpt(session, creator, name="Second")).gpt_id
    service = ConversationService(session, settings, redis)
    conversation = await service.create(
        creator, [NewItem("developer", "Be brief."), NewItem("user", "Hello")], {}
    )
    assert conversation.gpt_id is None

    version = await service.bind(creator, conversation, first)
    assert (conversation.gpt_id, conversation.version, version.number) == (first, 1, 1)
    counted = await redis.hgetall(f"{usage.PREFIX}:{usage._today()}:{first}")
    assert counted[b"conversations"] == b"1"
    assert (await service.bind(creator, conversation, first)).id == version.id  # counted once
    assert (await redis.hgetall(f"{usage.PREFIX}:{usage._today()}:{first}"))[b"conversations"] == b"1"
    with pytest.raises(Invalid) as caught:
        await service.bind(creator, conversation, second)
    assert caught.value.extra["param"] == "conversation"

    await service.append(
        conversation, [NewItem("user", "Best fjord?"), NewItem("assistant", "Geiranger [1]")]
    )
    history, extra = await service.transcript(conversation)
    assert [m["role"] for m in history] == ["user", "user", "assistant"] and extra == "Be brief."
    assert conversation.title == "Hello"

    stranger = await create_user(session, settings)
    with pytest.raises(NotFound):
        await service.owned(stranger, str(conversation.id))


async def test_include_takes_openais_values_on_list_create_and_retrieve(sdk, client, creator_headers):
    """`include` is accepted with OpenAI's values where OpenAI's API takes it (the SDK sends them), and
    any other value is a 400 naming `include`, on the items list, create and retrieve alike."""
    conversation = await sdk.conversations.create(items=ITEMS)
    listed = await sdk.conversations.items.list(
        conversation.id, include=["message.output_text.logprobs", "file_search_call.results"]
    )
    item_id = listed.data[0].id
    one = await sdk.conversations.items.retrieve(
        item_id, conversation_id=conversation.id, include=["message.output_text.logprobs"]
    )
    assert one.id == item_id
    added = await sdk.conversations.items.create(
        conversation.id, items=[{"role": "user", "content": "More?"}], include=["reasoning.encrypted_content"]
    )
    assert added.data[0].content[0].text == "More?"
    base = f"/v1/conversations/{conversation.id}/items"
    for method, url in (
        ("GET", f"{base}?include=nope"),
        ("GET", f"{base}/{item_id}?include=message.output_text.logprobs&include=nope"),
        ("POST", f"{base}?include=nope"),
    ):
        body = {"items": [{"role": "user", "content": "x"}]} if method == "POST" else None
        response = await client.request(method, url, json=body, headers=creator_headers)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == "include"


async def test_an_unknown_after_is_404_naming_it(sdk, client, creator_headers):
    conversation = await sdk.conversations.create(items=ITEMS)
    empty_include = await client.get(
        f"/v1/conversations/{conversation.id}/items?include=", headers=creator_headers
    )
    assert empty_include.status_code == 200  # the empty list, as a query string writes it
    response = await client.get(
        f"/v1/conversations/{conversation.id}/items?after=nope", headers=creator_headers
    )
    assert response.status_code == 404 and response.json()["error"]["param"] == "after"


async def test_file_citations_of_an_output_message_are_kept(sdk):
    file_id = "0b6f3b9e-8f1d-4c1e-9a53-6a1d3f0e2b11"
    note = {"type": "file_citation", "file_id": file_id, "filename": "fjords.pdf", "index": 0}
    output = {  # an output message of a response, copied as it came
        "id": "msg_abc",
        "type": "message",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "Geiranger [1]", "annotations": [note], "logprobs": []}],
    }
    conversation = await sdk.conversations.create(items=[ITEMS[1], output])
    items = (await sdk.conversations.items.list(conversation.id, order="asc")).data
    assert items[1].id != "msg_abc"  # every added item gets an id of its own
    assert [a.model_dump() for a in items[1].content[0].annotations] == [note]


async def test_a_conversation_deleted_while_an_answer_is_made(session, settings, redis, creator):
    """Deleted between its read and the turn's write (another request's DELETE): binding it is a 404, a
    /v1 response is a 404 naming `conversation` that keeps nothing, and a store chat reply writes nothing
    into it (no 500, no 200 whose turn was dropped)."""
    gpt_id = (await create_published_gpt(session, creator)).gpt_id
    service = ConversationService(session, settings, redis)

    async def deleted_meanwhile(conversation) -> None:
        await session.execute(sa.delete(Conversation).where(Conversation.id == conversation.id))

    unbound = await service.create(creator, [NewItem("user", "Hello")], {})
    await deleted_meanwhile(unbound)
    with pytest.raises(NotFound):
        await service.bind(creator, unbound, gpt_id)

    bound = await create_conversation(session, creator, gpt_id, question=None)
    llm = get_llm(settings)
    request = CreateResponseRequest(model=str(gpt_id), input="Which fjord?", conversation=str(bound.id))
    plan = await responses_plan.plan(session, settings, redis, llm, creator, request)
    await deleted_meanwhile(bound)
    with pytest.raises(NotFound) as caught:
        async for _ in events(settings, llm, plan, lambda p, r, a: responses.save(session, p, r, a)):
            pass
    assert caught.value.extra["param"] == "conversation" and "was deleted" in caught.value.detail
    assert await session.get(StoredResponse, plan.uuid) is None
    assert await session.scalar(sa.select(sa.func.count()).select_from(ChatMessage)) == 0

    chat = await create_conversation(session, creator, gpt_id, question=None)
    replies = ChatService(session, settings, redis, llm).reply(creator, chat, "Which fjord?")
    with pytest.raises(NotFound):
        async for event in replies:
            if chat.id is not None and not isinstance(event, tuple):
                await deleted_meanwhile(chat)
    assert await session.scalar(sa.select(sa.func.count()).select_from(ChatMessage)) == 0


@pytest.mark.parametrize(
    ("path", "body", "param", "code"),
    [
        ("", {"title": "x"}, "title", "unknown_parameter"),
        ("", {}, "metadata", "missing_required_parameter"),
        ("", {"metadata": {"a": "b"}, "title": "x"}, "title", "unknown_parameter"),
        ("/items", {"title": "x"}, "title", "unknown_parameter"),
        ("/items", {}, "items", "missing_required_parameter"),
    ],
)
async def test_an_update_names_an_unknown_parameter_before_a_missing_one(
    sdk, client, creator_headers, path, body, param, code
):
    conversation = await sdk.conversations.create()
    response = await client.post(
        f"/v1/conversations/{conversation.id}{path}", json=body, headers=creator_headers
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["param"], error["code"], error["type"]) == (param, code, "invalid_request_error"), error
