"""Builder: GPT drafts, building them by chat, previewing them, export and import."""
