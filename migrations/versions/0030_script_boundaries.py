"""Keyword search where scripts meet without spaces, and Korean by its parts (hand-written)

Revision ID: 0030_script_boundaries
Revises: 0029_preview_author

PostgreSQL's parser reads `コードはJP-7070です` or `코드KR-8181입니다` as one token, so the identifier was no
lexeme of `tsv`, and a Korean word with its particle (`발표자료를`) is a token that `발표자료` never matches.
`cjk_bigrams` (which fills `tsv_ngram`, migrations 0009 and 0022) now also takes Hangul runs apart into
character pairs, and gives each run of other non-space characters that touches a run of these scripts
as a word of its own (`retrieval.ngrams.index_terms` is its twin). Text without CJK, Hangul or Thai keeps
the fast path of 0022.

The chunks whose `tsv_ngram` changes (those holding a character of these scripts) are re-indexed in
batches of `BATCH` rows, each committed on its own, so no row stays locked for long and the table is never
locked against writes. The store's search and the dataset directory get a GIN index over the same terms
of their text (expression indexes: no table rewrite). The downgrade restores the function of 0022,
re-indexes the same chunks and drops the two indexes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030_script_boundaries"
down_revision: str | None = "0029_preview_author"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1_000  # chunks re-indexed per transaction

# retrieval.ngrams at this revision: NO_SPACE_CHARS + HANGUL_CHARS, and BREAK_CHARS.
CHARS = (
    r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u0e00-\u0e7f"
    r"\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7ff"
)
BREAKS = (
    r" \t\n\r\f\v\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000-\u3004\u3008-\u303f"
    r"\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"
)
# A run of these scripts (parts[1]), or a run of other characters up to a break (whitespace, CJK
# punctuation) that touches one (parts[2]).
TERM = f"([{CHARS}]+)|([^{BREAKS}{CHARS}]+(?=[{CHARS}])|(?<=[{CHARS}])[^{BREAKS}{CHARS}]+)"
TERMS = f"""
    SELECT coalesce(string_agg(
               CASE WHEN m.parts[1] IS NULL THEN m.parts[2]
                    WHEN length(m.parts[1]) = 1 THEN m.parts[1]
                    ELSE substr(m.parts[1], i, 2) END, ' ' ORDER BY n, i), '')
    FROM regexp_matches(input, '{TERM}', 'g') WITH ORDINALITY AS m(parts, n)
    CROSS JOIN LATERAL generate_series(1, greatest(coalesce(length(m.parts[1]), 0) - 1, 1)) AS i
"""

# 0022's function: Han, kana, compatibility ideographs and Thai, bigrams only.
OLD_CHAR = r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u0e00-\u0e7f]"
OLD_BIGRAMS = f"""
    SELECT coalesce(string_agg(
               CASE WHEN length(run) = 1 THEN run ELSE substr(run, i, 2) END, ' ' ORDER BY n, i), '')
    FROM regexp_matches(input, '{OLD_CHAR}+', 'g') WITH ORDINALITY AS m(parts, n)
    CROSS JOIN LATERAL (SELECT m.parts[1] AS run) r
    CROSS JOIN LATERAL generate_series(1, greatest(length(r.run) - 1, 1)) AS i
"""

LISTING_INDEX = (
    "CREATE INDEX ix_listing_ngram ON listing"
    " USING gin (to_tsvector('simple'::regconfig, cjk_bigrams(search_text)))"
)
DATASET_INDEX = (
    "CREATE INDEX ix_dataset_open_ngram ON dataset"
    " USING gin (to_tsvector('simple'::regconfig, cjk_bigrams(name || ' ' || description)))"
    " WHERE access = 'open'"
)


def _function(body: str) -> str:
    return f"""
        CREATE OR REPLACE FUNCTION cjk_bigrams(input text) RETURNS text
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ {body} $$
    """


def _reindex(chars: str) -> None:
    """Recompute `tsv_ngram` of every chunk whose text holds one of `chars` (a bracket expression), in
    batches by id, each its own transaction. PostgreSQL recomputes a stored generated column when a column
    it reads is set: `SET text = text` does (and `tsv` with it), `SET tsv_ngram = DEFAULT` keeps the old
    value (PostgreSQL 18, tried)."""
    with op.get_context().autocommit_block():
        bind = op.get_bind()
        last = None
        while True:
            after = "" if last is None else "AND id > :last"
            last = bind.scalar(
                sa.text(
                    f"""
                    WITH batch AS (
                        SELECT id FROM knowledge_chunk WHERE text ~ '{chars}' {after}
                        ORDER BY id LIMIT {BATCH}
                    ),
                    done AS (
                        UPDATE knowledge_chunk AS c SET text = c.text FROM batch WHERE c.id = batch.id
                        RETURNING c.id
                    )
                    SELECT id FROM done ORDER BY id DESC LIMIT 1
                    """
                ),
                {} if last is None else {"last": last},
            )
            if last is None:
                return


def upgrade() -> None:
    op.execute(_function(f"SELECT CASE WHEN input ~ '[{CHARS}]' THEN ({TERMS}) ELSE '' END"))
    op.execute(LISTING_INDEX)
    op.execute(DATASET_INDEX)
    _reindex(f"[{CHARS}]")


def downgrade() -> None:
    op.execute("DROP INDEX ix_dataset_open_ngram")
    op.execute("DROP INDEX ix_listing_ngram")
    op.execute(_function(f"SELECT CASE WHEN input ~ '{OLD_CHAR}' THEN ({OLD_BIGRAMS}) ELSE '' END"))
    _reindex(f"[{CHARS}]")
