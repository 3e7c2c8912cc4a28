"""Migration 0030: chunks written before it get the new `tsv_ngram` (identifiers glued to CJK or Hangul text
as lexemes, Hangul as character pairs), re-indexed in batches; Latin-only chunks are left alone; the
downgrade puts 0022's function and vectors back."""

import asyncio

import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import AsyncSession

from builder.models import Gpt
from core import migrate
from core.db import create_engine
from core.models import User
from retrieval.models import Dataset, KnowledgeFile
from tests.conftest import _recreate_database

PREVIOUS = "0029_preview_author"
COPIES = 700
TEXTS = {
    "ja": "会議は金曜日です。コードはJP-7070です。",
    "ko": "발표자료를 보내 주세요. 코드KR-8181입니다.",
    "en": "Harbour fees are due in March; invoice RX-1200.",
}


async def test_chunks_are_reindexed_with_glued_identifiers_and_hangul_pairs(server_urls):
    url = await _recreate_database(server_urls[0], "gptstore_script_boundaries_migration")
    await asyncio.to_thread(migrate.upgrade, url, PREVIOUS)
    engine = create_engine(url, pool_size=2)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            owner = User(email="k@example.com", handle="k", display_name="K", password_hash="x", plan="plus")
            session.add(owner)
            await session.flush()
            gpt = Gpt(owner_id=owner.id, name="G")
            session.add(gpt)
            session.add(Dataset(id=gpt.id, home_gpt_id=gpt.id, owner_id=owner.id, name=""))
            await session.flush()
            file = KnowledgeFile(dataset_id=gpt.id, owner_id=owner.id, filename="f.md",
                                 media_type="text/markdown", bytes=1, sha256="0" * 64, status="completed",
                                 chunk_size=512, chunk_overlap=64)  # fmt: skip
            session.add(file)
            await session.flush()
            # 700 copies of each: more chunks to re-index than one batch (1,000) holds.
            for language, text in TEXTS.items():
                await session.execute(
                    sa.text(
                        "INSERT INTO knowledge_chunk (id, file_id, dataset_id, ord, text, token_count,"
                        " char_start, char_end, embedding_model, text_search_config)"
                        " SELECT gen_random_uuid(), :file, :dataset, :base + n, :text, 9, 0, 9, :language,"
                        " 'simple' FROM generate_series(1, :copies) AS n"
                    ),
                    {"file": file.id, "dataset": gpt.id, "base": COPIES * list(TEXTS).index(language),
                     "text": text, "language": language, "copies": COPIES},
                )  # fmt: skip
            await session.commit()

        found = (
            "SELECT embedding_model, count(*) FROM knowledge_chunk"
            " WHERE tsv_ngram @@ websearch_to_tsquery('simple', :q) GROUP BY 1"
        )

        async def matches(query: str) -> dict[str, int]:
            async with engine.connect() as conn:
                return dict((await conn.execute(sa.text(found), {"q": query})).all())

        assert await matches('"JP-7070"') == {} and await matches("자료") == {}
        assert await matches("金曜") == {"ja": COPIES}  # CJK pairs were there before

        await asyncio.to_thread(migrate.upgrade, url)
        assert await matches('"JP-7070"') == {"ja": COPIES}
        assert await matches('"KR-8181"') == {"ko": COPIES}
        assert await matches("자료") == {"ko": COPIES}
        assert await matches('"RX-1200"') == {}  # between spaces: `tsv` has it, `tsv_ngram` needs not
        async with engine.connect() as conn:
            empty = "SELECT count(*) FROM knowledge_chunk WHERE embedding_model = 'en' AND tsv_ngram <> ''"
            assert await conn.scalar(sa.text(empty)) == 0

        await asyncio.to_thread(command.downgrade, migrate.alembic_config(url), PREVIOUS)
        assert await matches('"JP-7070"') == {} and await matches("자료") == {}
        assert await matches("金曜") == {"ja": COPIES}
    finally:
        await engine.dispose()
