"""Shared kernel: settings, database, errors, auth, LLM, Redis, jobs, app factory and CLI."""
