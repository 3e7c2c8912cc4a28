"""The request's session is rolled back and closed when a dependency refuses the request (a provider's
404 or 403), not left in its transaction for the garbage collector to finalise
later, racing the next user of the connection (core.deps.close_request_session)."""

from __future__ import annotations

import gc
import uuid

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session


@pytest.fixture
def begun() -> list[Session]:
    """Every session that begins a transaction while the test runs."""
    sessions: list[Session] = []

    def record(session, _transaction, _connection) -> None:
        sessions.append(session)

    event.listen(Session, "after_begin", record)
    yield sessions
    event.remove(Session, "after_begin", record)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (f"/api/datasets/{uuid.uuid4()}/files", 404),  # retrieval.deps.viewable_dataset
        (f"/api/gpts/{uuid.uuid4()}/file_batches", 404),  # retrieval.deps.editable_home_dataset
        (f"/api/gpts/{uuid.uuid4()}", 404),  # the handler's own refusal
    ],
)
async def test_a_refused_request_closes_its_session(client, creator_headers, begun, path, status):
    gc.disable()  # what is left open stays open: nothing finalises it behind the test's back
    try:
        response = await client.get(path, headers=creator_headers)
        assert response.status_code == status
        assert begun, "the request used no session"
        assert not [s for s in begun if s.in_transaction()]
    finally:
        gc.enable()
