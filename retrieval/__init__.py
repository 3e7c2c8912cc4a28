"""Retrieval: knowledge ingestion (parse, chunk, embed, index in pgvector) and hybrid search."""
