"""Chunks searchable in scripts without spaces: a tsvector of character bigrams (hand-written)

Revision ID: 0009
Revises: 0007
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Han, kana, CJK compatibility ideographs and Thai; keep in step with retrieval.ngrams.SCRIPT_RUN.
SCRIPT_RUN = r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u0e00-\u0e7f]+"


def upgrade() -> None:
    op.execute(
        f"""
        CREATE FUNCTION cjk_bigrams(input text) RETURNS text
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
            SELECT coalesce(string_agg(
                       CASE WHEN length(run) = 1 THEN run ELSE substr(run, i, 2) END, ' ' ORDER BY n, i), '')
            FROM regexp_matches(input, '{SCRIPT_RUN}', 'g') WITH ORDINALITY AS m(parts, n)
            CROSS JOIN LATERAL (SELECT m.parts[1] AS run) r
            CROSS JOIN LATERAL generate_series(1, greatest(length(r.run) - 1, 1)) AS i
        $$
        """
    )
    op.execute(
        "ALTER TABLE knowledge_chunk ADD COLUMN tsv_ngram tsvector"
        " GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, cjk_bigrams(text))) STORED"
    )
    op.execute("CREATE INDEX ix_knowledge_chunk_tsv_ngram ON knowledge_chunk USING gin (tsv_ngram)")


def downgrade() -> None:
    op.execute("DROP INDEX ix_knowledge_chunk_tsv_ngram")
    op.execute("ALTER TABLE knowledge_chunk DROP COLUMN tsv_ngram")
    op.execute("DROP FUNCTION cjk_bigrams(text)")
