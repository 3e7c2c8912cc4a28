"""Imported once by the parse forkserver (`retrieval.isolation`), never by the server: every child forked
from it starts with the parsers imported and tiktoken's encoding and the chunker's token tables built
(about a second of work that each child would otherwise repeat).

Nothing here may raise: an exception would stop the forkserver.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

# Read first: importing retrieval.isolation below sets it again, to this process's own main module.
_MAIN = os.environ.get("GPTSTORE_FORKSERVER_MAIN") or "{}"

with contextlib.suppress(Exception):
    import bs4  # noqa: F401
    import charset_normalizer  # noqa: F401
    import docx  # noqa: F401
    import lxml.html  # noqa: F401
    import openpyxl  # noqa: F401
    import pptx  # noqa: F401
    import puremagic  # noqa: F401
    import pypdf  # noqa: F401

    import retrieval.child_tasks
    import retrieval.isolation  # noqa: F401  (the main module of a child imports it again)
    from core.tokens import get_encoding, seed_tiktoken_cache
    from retrieval.chunking import _token_tables

    if cache := os.environ.get("TIKTOKEN_CACHE_DIR"):
        seed_tiktoken_cache(Path(cache))
        get_encoding("cl100k_base")
        _token_tables("cl100k_base")

# The server's main module, once here instead of once per child (retrieval.isolation.main_preparation);
# marked as inheriting, as multiprocessing does, so a main module that starts processes on import fails
# with its clear error instead of forking on.
with contextlib.suppress(Exception):
    if preparation := json.loads(_MAIN):
        from multiprocessing import process, spawn

        process.current_process()._inheriting = True
        try:
            spawn.prepare(preparation)
        finally:
            del process.current_process()._inheriting
