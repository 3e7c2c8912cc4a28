"""Read-modify-write races of a draft: builder turns sent at the same moment (two tabs, a double submit)
each build on the draft the one before left, as the same turns one by one (fixtures: conftest.py here).
"""

from __future__ import annotations

from tests.factories import auth_headers
from tests.hardening.concurrency import PARALLEL, new_gpt, new_user, statuses, together


async def test_parallel_builder_turns_keep_every_change(race_client, race_db, race_settings):
    """As found: 4 rules sent at once each answered "Updated", and the draft kept one of them (the access
    check had loaded the draft before the turn's row lock, which then did not refresh it)."""
    creator = await new_user(race_db, race_settings, plan="plus")
    headers = auth_headers(creator, race_settings)
    gpt_id = await new_gpt(race_client, headers)
    rules = [f"Always mention rule number {n}." for n in range(PARALLEL)]

    responses = await together(
        [
            race_client.post(f"/api/gpts/{gpt_id}/builder/messages", json={"content": rule}, headers=headers)
            for rule in rules
        ]
    )

    assert statuses(responses) == {200: PARALLEL}
    instructions = (await race_client.get(f"/api/gpts/{gpt_id}", headers=headers)).json()["instructions"]
    assert sorted(instructions.splitlines()) == sorted(rules)
    # each turn's change starts from what the turn before it left: its `before` is another turn's `after`
    afters = {r.json()["changes"][0]["after"] for r in responses}
    befores = {r.json()["changes"][0]["before"] for r in responses}
    assert len(afters) == PARALLEL and befores - afters == {""}
