"""The offline builder's answer: what changed, what it could not do or understand, and what to say next."""

from __future__ import annotations

from builder.offline import wording as w
from builder.offline.draft import Draft
from builder.offline.vocabulary import OWNED_LINES

_CHANGE_ORDER = (
    "undo name description audience instructions tone language welcome_message starter starter_removed "
    "starter_moved starters_cleared category tags tag_removed"
).split()


def compose(draft: Draft, first_time: bool) -> str:
    parts = [draft.t("intro") if first_time else draft.t("prefix")]
    changes = list(draft.changes)
    if len(draft.added_lines) == 1:
        changes.append(("instructions", draft.t("changed_line", value=w.preview(draft.added_lines[0]))))
    elif draft.added_lines:
        changes.append(("instructions", draft.t("changed_lines", count=len(draft.added_lines))))
    changes = sorted(changes, key=lambda change: _CHANGE_ORDER.index(change[0]))
    if changes:
        parts.append(draft.t("updated", items=", ".join(text for _, text in changes)))
    parts += draft.notes
    if draft.wants_help and not first_time:
        parts.append(draft.t("help"))
    if not (changes or draft.notes or draft.wants_help or draft.small_talk):
        parts.append(draft.t("nothing"))
    parts.append(_next_question(draft))
    return "\n\n".join(parts)


def _next_question(draft: Draft) -> str:
    values = draft.values
    if not values["name"]:
        return draft.t("ask_name")
    if not values["description"]:
        return draft.t("ask_purpose")
    if not any(OWNED_LINES["tone"].match(line.strip()) for line in draft.lines):
        return draft.t("ask_tone")
    if not values["conversation_starters"]:
        return draft.t("ask_starters")
    if not values["category"]:
        return f"{draft.t('ask_category')} {draft.t('ask_knowledge')}"
    return draft.t("ask_knowledge")
