"""A draft's scope as a function with a cached plan: gptstore_draft_scope(gpt_id, user_id)

Revision ID: 0033_draft_scope_function
Revises: 0032_mcp_server_credentials

Every search of a draft (the builder's preview, the retrieval test endpoint, a draft's chat) first reads
its scope: the files of its home dataset and of every dataset attached to it, with their owners, and the
searching user's admin flag and role. Sent as a statement, PostgreSQL plans it on every search (~0.3 ms of
the ~0.57 ms it takes at 200k chunks, bench/endpoint.py); as a PL/pgSQL function its statement is planned
once per connection and the plan reused (`plan_cache_mode = force_generic_plan`: the plan does not depend
on the two ids), 0.24 ms (docs/performance.md, "The draft's scope as a function").

The function returns the columns of `retrieval.knowledge_search._scope` for a draft (the same names, in
the same order) and `caller_is_admin`, `caller_role` (`with_caller`); `tests/retrieval/
test_draft_scope_function.py` holds it to the ORM statement row for row. A change to those columns needs a
migration that replaces the function. The downgrade drops it.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0033_draft_scope_function"
down_revision: str | None = "0032_mcp_server_credentials"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CREATE = """
CREATE OR REPLACE FUNCTION gptstore_draft_scope(p_gpt_id uuid, p_user_id uuid)
RETURNS TABLE (
    dataset_id uuid,
    dataset_name varchar,
    dataset_access varchar,
    owner_id uuid,
    organization_id uuid,
    attribution varchar,
    text_search_config varchar,
    score_threshold double precision,
    owner_handle varchar,
    owner_name varchar,
    organization_handle varchar,
    organization_name varchar,
    id uuid,
    filename varchar,
    access varchar,
    license varchar,
    source_url varchar,
    chunks_done integer,
    embedding_model varchar,
    detached_at timestamptz,
    caller_is_admin boolean,
    caller_role varchar
)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
AS $body$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT dataset.id, dataset.name, dataset.access, dataset.owner_id, dataset.organization_id,
           dataset.attribution, dataset.text_search_config, dataset.score_threshold,
           user_account.handle, user_account.display_name, organization.handle, organization.name,
           knowledge_file.id, knowledge_file.filename, knowledge_file.access, knowledge_file.license,
           knowledge_file.source_url, knowledge_file.chunks_done, knowledge_file.embedding_model,
           knowledge_file.detached_at,
           (SELECT user_account.is_admin FROM user_account WHERE user_account.id = p_user_id),
           (SELECT organization_member.role FROM organization_member
             WHERE organization_member.user_id = p_user_id
               AND organization_member.organization_id =
                   (SELECT home.organization_id FROM dataset AS home WHERE home.id = p_gpt_id))
    FROM dataset
    JOIN user_account ON user_account.id = dataset.owner_id
    LEFT OUTER JOIN organization ON organization.id = dataset.organization_id
    LEFT OUTER JOIN knowledge_file
      ON knowledge_file.dataset_id = dataset.id AND knowledge_file.detached_at IS NULL
    WHERE dataset.id = p_gpt_id
       OR dataset.id = ANY (ARRAY(SELECT gpt_dataset.dataset_id FROM gpt_dataset
                                  WHERE gpt_dataset.gpt_id = p_gpt_id));
END
$body$
"""


def upgrade() -> None:
    op.execute(CREATE)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS gptstore_draft_scope(uuid, uuid)")
