"""A response made in a conversation and the conversation's items name the same messages with the same ids."""

from __future__ import annotations

import uuid

from tests.store.factories import create_published_gpt


async def test_a_responses_messages_are_the_conversations_items_by_id(sdk, session, creator):
    """As in OpenAI's Conversations API: the `msg_` id of the answer in `response.output` (and of the question
    in its input items) is the id of that item in the conversation, streamed or not."""
    gpt_id = str((await create_published_gpt(session, creator)).gpt_id)
    conversation = await sdk.conversations.create(metadata={"gpt_id": gpt_id})

    answered = await sdk.responses.create(
        model=gpt_id, input="Best fjord in May?", conversation=conversation.id
    )
    async with sdk.responses.stream(
        model=gpt_id, input="And in June?", conversation=conversation.id
    ) as events:
        streamed = await events.get_final_response()

    expected = []
    for response in (answered, streamed):
        asked = (await sdk.responses.input_items.list(response.id)).data[-1]
        message = next(o for o in response.output if o.type == "message")
        expected += [("user", asked.id), ("assistant", message.id)]
        item = await sdk.conversations.items.retrieve(message.id, conversation_id=conversation.id)
        assert (item.role, item.content[0].text) == ("assistant", message.content[0].text)
        assert (
            await sdk.conversations.items.retrieve(asked.id, conversation_id=conversation.id)
        ).role == "user"
    listed = await sdk.conversations.items.list(conversation.id, order="asc")
    assert [(i.role, i.id) for i in listed.data] == expected
    assert all(i.id.startswith("msg_") for i in listed.data)

    # the bare UUID of an item is taken too (as for conversations), also as `after`
    bare = str(uuid.UUID(expected[0][1].removeprefix("msg_")))
    assert (await sdk.conversations.items.retrieve(bare, conversation_id=conversation.id)).id == expected[0][
        1
    ]
    after = await sdk.conversations.items.list(conversation.id, order="asc", after=bare)
    assert [i.id for i in after.data] == [i for _, i in expected[1:]]
