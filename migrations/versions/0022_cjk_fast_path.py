"""cjk_bigrams skips the set-returning plan for text without CJK or Thai characters (hand-written)

Revision ID: 0022_cjk_fast_path
Revises: 0021_deferred_index

`tsv_ngram` (migration 0009) calls `cjk_bigrams` for every chunk written. Most chunks hold no character of
those scripts, yet each ran `regexp_matches` with its lateral joins and `string_agg`: 30 µs per 1 KB chunk,
a third of a chunk's keyword upkeep (docs/performance.md, "Writes that keep up"). One regular-expression
test first answers the empty string for them; the result is the same for every input, so the stored
`tsv_ngram` values stay valid and nothing is recomputed.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022_cjk_fast_path"
down_revision: str | None = "0021_deferred_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Han, kana, CJK compatibility ideographs and Thai; keep in step with retrieval.ngrams.SCRIPT_RUN.
SCRIPT_CHAR = r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u0e00-\u0e7f]"
BIGRAMS = f"""
    SELECT coalesce(string_agg(
               CASE WHEN length(run) = 1 THEN run ELSE substr(run, i, 2) END, ' ' ORDER BY n, i), '')
    FROM regexp_matches(input, '{SCRIPT_CHAR}+', 'g') WITH ORDINALITY AS m(parts, n)
    CROSS JOIN LATERAL (SELECT m.parts[1] AS run) r
    CROSS JOIN LATERAL generate_series(1, greatest(length(r.run) - 1, 1)) AS i
"""


def _function(body: str) -> str:
    return f"""
        CREATE OR REPLACE FUNCTION cjk_bigrams(input text) RETURNS text
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ {body} $$
    """


def upgrade() -> None:
    # The scalar subquery runs only when the test finds a character of these scripts.
    op.execute(_function(f"SELECT CASE WHEN input ~ '{SCRIPT_CHAR}' THEN ({BIGRAMS}) ELSE '' END"))


def downgrade() -> None:
    op.execute(_function(BIGRAMS))
