"""Store: published versions, browsing and search, chat, ratings, reports, creators, OpenAI-compatible API."""
