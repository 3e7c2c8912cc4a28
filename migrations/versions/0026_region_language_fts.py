"""GPTs whose language has a region or script (`pt-BR`) get their language's full-text configuration

Revision ID: 0026_region_language_fts
Revises: 0025_attachments_same_owner

The full-text configuration of a GPT's home dataset follows its language (`retrieval.search.
text_search_config_for`). It used to look the whole tag up, so `pt-BR` or `sr-Latn-RS` fell back to
`simple` (no stemming); it now reads the first subtag. Existing GPTs kept `simple` until their language was
saved again. This sets it for them, and re-indexes their chunks' full-text column (`tsv` is generated from
`text_search_config`), as saving the language does. The table below is the one of the code at this
revision. The downgrade restores `simple` for the same GPTs, as the code before read their tags.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0026_region_language_fts"
down_revision: str | None = "0025_attachments_same_owner"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# retrieval.search.LANGUAGE_TO_TEXT_SEARCH at this revision
LANGUAGE_TO_TEXT_SEARCH = {
    "ar": "arabic", "hy": "armenian", "eu": "basque", "ca": "catalan", "da": "danish", "nl": "dutch",
    "en": "english", "fi": "finnish", "fr": "french", "de": "german", "el": "greek", "hi": "hindi",
    "hu": "hungarian", "id": "indonesian", "ga": "irish", "it": "italian", "lt": "lithuanian", "ne": "nepali",
    "no": "norwegian", "nb": "norwegian", "nn": "norwegian", "pt": "portuguese", "ro": "romanian",
    "ru": "russian", "sr": "serbian", "es": "spanish", "sv": "swedish", "ta": "tamil", "tr": "turkish",
    "yi": "yiddish",
}  # fmt: skip


def _set(old: str, new: str) -> None:
    """Home datasets of GPTs with a multi-part tag whose language maps to a configuration, from `old` to
    `new` (SQL expressions over `m.config`), and their chunks with them."""
    values = ", ".join(f"('{code}', '{config}')" for code, config in LANGUAGE_TO_TEXT_SEARCH.items())
    op.execute(
        f"""
        WITH m (code, config) AS (VALUES {values}),
        changed AS (
            UPDATE dataset AS home
            SET text_search_config = {new}
            FROM gpt, m
            WHERE home.id = gpt.id
              AND gpt.language LIKE '%-%'
              AND lower(split_part(gpt.language, '-', 1)) = m.code
              AND home.text_search_config = {old}
            RETURNING home.id, home.text_search_config
        )
        UPDATE knowledge_chunk AS chunk
        SET text_search_config = CAST(changed.text_search_config AS regconfig)
        FROM changed
        WHERE chunk.dataset_id = changed.id
        """
    )


def upgrade() -> None:
    _set("'simple'", "m.config")


def downgrade() -> None:
    _set("m.config", "'simple'")
