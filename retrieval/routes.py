"""Knowledge files of a GPT (its home dataset) and the retrieval test (search) endpoint (imports from the
web: retrieval/import_routes.py).

The file routes are `retrieval.file_handling.FileRoutes`, shared with the files of any dataset
(`/api/datasets/{id}/files`, retrieval/dataset_routes.py): this scope provides the GPT's home dataset.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, post
from litestar.datastructures import State
from litestar.di import Provide

from core.auth import AccountService, required_bearer
from core.settings import Settings
from retrieval.deps import editable_home_dataset, readable_home_dataset
from retrieval.file_handling import FileRoutes, hit_test
from retrieval.knowledge_search import Caller
from retrieval.schemas import SearchRequest, SearchResponse
from retrieval.service import KnowledgeService


class FileController(FileRoutes):
    """Knowledge files of a GPT (its home dataset; reads too only for its editors) and its retrieval test."""

    path = "/api/gpts/{gpt_id:uuid}"
    tags = ["knowledge"]
    dependencies = {"editable": Provide(editable_home_dataset), "readable": Provide(readable_home_dataset)}

    @post("/search", status_code=200)
    async def search(
        self, gpt_id: uuid.UUID, data: SearchRequest, request: Request, state: State, settings: Settings
    ) -> SearchResponse:
        """Hybrid search over the GPT's knowledge (every dataset it uses): the creator's retrieval test
        (private passages only for the GPT's owner).

        Read-only, so outside a transaction, on the search pool (`core.db.Database.search_session`); the
        access token's user and their role in the GPT's organisation are read by the scope statement
        (`retrieval.knowledge_search.with_caller`), not by `current_user`: two statements in all, the
        scope and the search (docs/performance.md, "Search endpoint overhead"). Answers as `current_user`
        and `knowledge_base_for` would: 401 for the credential, 404 / 403 naming the role for the GPT."""
        credential = required_bearer(request)
        async with state.db.search_session() as session:
            verified = await AccountService(session, settings, state.redis).verify(credential)
            service = KnowledgeService(session, settings)

            async def editors_only(home: Any | None, caller: Caller | None) -> bool:
                """The credential's last checks, then `knowledge_base_for`'s (404, or 403 naming the role),
                on the rows the scope statement read. Returns whether private passages show."""
                await verified.confirm(caller is not None)
                await service.require_edit(caller, home, role=caller.role)
                # the user came in as an editor; only a site admin may be one without owning it (an
                # admin's look: private passages stay with the GPT's owners)
                return not caller.is_admin or await service.may_edit(
                    caller, home, site_admin=False, role=caller.role
                )

            try:
                return await hit_test(
                    service, gpt_id, data, only=data.file_ids, admit=editors_only, caller_id=verified.user_id
                )
            finally:
                verified.cancel()  # the scope statement failed before the deny-list answer was awaited


route_handlers = [FileController]
