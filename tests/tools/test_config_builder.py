"""The builder chat (with the scripted LLM) adds and changes actions through its `save_action` tool; a bad
document goes back to the model and saves nothing; no secret passes through it."""

from pathlib import Path

from tests.fake_openai import text, tool_call

TRIPS = (Path(__file__).resolve().parents[1] / "data" / "tools" / "trips-3.0.yaml").read_text()


async def test_the_builder_adds_and_changes_an_action(llm_client, creator_headers, fake_openai):
    gpt_id = (
        await llm_client.post("/api/gpts", json={"name": "Fjord Guide"}, headers=creator_headers)
    ).json()["id"]
    url = f"/api/gpts/{gpt_id}/builder/messages"
    fake_openai.script(
        tool_call("save_action", {"document": "openapi: 3.1.0\ninfo: {}"}),
        tool_call("save_action", {"document": TRIPS, "auth_type": "bearer"}),
        text("Added the trips API. Enter its token in the Tools section."),
    )
    turn = (await llm_client.post(url, json={"content": "add this API: ..."}, headers=creator_headers)).json()
    assert turn["message"]["content"].startswith("Added the trips API")
    [change] = turn["changes"]
    assert change["field"] == "actions" and change["before"] is None
    assert change["after"]["domain"] == "api.fjords.example" and "bookTrip" in change["after"]["operations"]
    first_reply = fake_openai.chat_requests[1]["messages"][-1]
    assert first_reply["role"] == "tool" and first_reply["content"].startswith("error: nothing was saved")
    second_reply = fake_openai.chat_requests[2]["messages"][-1]["content"]
    assert second_reply.startswith("ok") and "needs credentials" in second_reply
    assert {t["function"]["name"] for t in fake_openai.chat_requests[0]["tools"]} == {
        "update_gpt",
        "save_action",
    }
    [action] = (await llm_client.get(f"/api/gpts/{gpt_id}/actions", headers=creator_headers)).json()
    assert action["auth"]["type"] == "bearer" and action["auth"]["needs_credentials"] is True

    fake_openai.reset()
    fake_openai.script(
        tool_call("save_action", {"action_id": action["id"], "privacy_policy_url": "https://fjords.example/p",
                                  "consequential": {"listTrips": True}}),
        text("Done."),
    )  # fmt: skip
    turn = (
        await llm_client.post(url, json={"content": "privacy policy is ..."}, headers=creator_headers)
    ).json()
    assert turn["changes"], fake_openai.chat_requests[1]["messages"][-1]
    assert turn["changes"][0]["before"]["id"] == action["id"]
    assert (
        action["id"] in fake_openai.chat_requests[0]["messages"][0]["content"]
    )  # the model sees its actions
    [changed] = (await llm_client.get(f"/api/gpts/{gpt_id}/actions", headers=creator_headers)).json()
    assert changed["privacy_policy_url"] == "https://fjords.example/p"
    assert {op["name"]: op["consequential"] for op in changed["operations"]}["listTrips"] is True
    # Undo reverts fields, not actions: the action stays.
    assert (
        await llm_client.post(f"/api/gpts/{gpt_id}/builder/undo", headers=creator_headers)
    ).status_code in (200, 409)
    assert len((await llm_client.get(f"/api/gpts/{gpt_id}/actions", headers=creator_headers)).json()) == 1
