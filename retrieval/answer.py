"""Grounded answers: one place that answers as a GPT would, from its instructions and its knowledge.

The builder's preview and the store's chat (and its OpenAI-compatible API) all answer through here.
With a chat model, the retrieved passages are given to it as numbered sources and the citations are the
sources its reply actually cites. Without one, the answer is extractive: the most relevant sentences of
the best passages, each with its source.

Open files may be quoted; private files inform answers but are never handed out verbatim: their citations
carry no quote, offline answers give at most a short fragment of a private sentence, the model is told
the rules, and every answer, streamed or not, passes the verbatim guard (`retrieval.verbatim`) built for
the turn from the private passages retrieved and the hidden instructions (docs/trust.md).

What the model reads is built in `retrieval.answer_prompt`, what an answer cites in `retrieval.citations`.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.llm import ChatModel, ChatResult, Delta, Message, ToolCall
from core.settings import Settings
from retrieval.answer_prompt import AnswerContext, answer_messages
from retrieval.citations import Citation, citation_of, used_citations
from retrieval.knowledge_search import SourcedHit
from retrieval.sentences import key_terms, private_quote, sentences_of
from retrieval.service import KnowledgeService
from retrieval.tool_loop import (
    NEEDS_APPROVAL_NOTE,
    PendingCall,
    ToolCallEnded,
    ToolCallStarted,
    TurnEnd,
    TurnState,
    model_calls,
    offline_tools_note,
    run_turn,
    shown_call,
)
from retrieval.verbatim import VerbatimGuard
from tools.runtime import Toolset

EXTRACTIVE_SENTENCES = 3
NO_MODEL_NOTE = "(No language model is configured, so this answer quotes the most relevant passages.)"
NOT_IN_KNOWLEDGE = "This GPT's knowledge holds nothing on that question."


@dataclass
class Answer:
    content: str
    citations: list[Citation] = field(default_factory=list)
    usage: dict[str, int] | None = None
    finish_reason: str = "stop"  # or "length" when the reply hit its token cap
    status: str = "completed"  # or "requires_approval": the turn waits for the user to approve `pending`
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # `ToolCallEnded.as_json()` of the turn
    pending: PendingCall | None = None
    state: TurnState | None = None  # what a paused turn needs to go on (stored, never shown)

    # Client functions the model called (`/v1/responses` hands them to the client to run).
    function_calls: list[ToolCall] = field(default_factory=list)

    def message_fields(self) -> dict[str, Any]:
        """The stored assistant message's columns: content, citations, status, tool calls and, while paused,
        the pending call and the turn's state."""
        paused = self.status == "requires_approval"
        return {
            "content": self.content,
            "citations": [c.as_json() for c in self.citations],
            "status": self.status,
            "tool_calls": list(self.tool_calls),
            "pending_call": self.pending.as_json() if self.pending and paused else None,
            "tool_state": self.state.as_json() if self.state and paused else None,
        }


def answer_guard(settings: Settings, context: AnswerContext, sources: Sequence[SourcedHit]) -> VerbatimGuard:
    """The turn's verbatim guard: no more than the GPT's (or the setting's) word limit in a row from the
    private passages retrieved for the turn (with their headings and file names: the model reads them too)
    or from hidden instructions."""
    protected = [
        t for s in sources if s.access != "open" for t in (s.hit.text, s.hit.heading, s.filename) if t
    ]
    if not context.instructions_public:
        protected.append(context.instructions)
    return VerbatimGuard(protected, context.verbatim_max_words or settings.verbatim_max_words)


def extractive_answer(question: str, sources: Sequence[SourcedHit], guard: VerbatimGuard) -> Answer:
    """The sentences of the best passages that share the most (and the rarest) words with the question,
    numbered by source, without a language model; "not in the knowledge" when no passage is relevant.
    Sentences of private passages are cut to a fragment under the guard's limit, also counted across the
    sentences before them (`private_quote`), and the whole answer passes the guard."""
    if not sources:
        return Answer(f"{NOT_IN_KNOWLEDGE} {NO_MODEL_NOTE}")
    wanted = key_terms(question)
    candidates: list[tuple[int, str, set[str]]] = []
    seen: set[str] = set()  # a sentence once, from its best passage: overlapping chunks and boilerplate
    for rank, source in enumerate(sources):  # repeat sentences, which made the same bullet twice
        for sentence in sentences_of(source.hit.text):
            if (same := " ".join(sentence.casefold().split())) not in seen:
                seen.add(same)
                candidates.append((rank, sentence, key_terms(sentence)))
    # Inverse frequency among the candidate sentences: a word in every sentence tells none apart.
    weight = {
        term: math.log(1 + len(candidates) / (1 + sum(term in terms for _, _, terms in candidates)))
        for term in wanted
    }
    scored = []
    for rank, sentence, terms in candidates:
        overlap = sum(weight[t] for t in wanted & terms)
        scored.append((overlap + sources[rank].hit.score - rank * 0.05, rank, sentence, overlap))
    scored.sort(key=lambda s: -s[0])
    picked = [s for s in scored if s[3] > 0][:EXTRACTIVE_SENTENCES] or scored[:1]
    used: list[int] = []
    lines = []
    for _, rank, sentence, _ in picked:
        if rank not in used:
            used.append(rank)
        marker = f" [{used.index(rank) + 1}]"
        if sources[rank].access != "open":
            sentence = private_quote(sentence, wanted, guard, "\n".join(lines))
        lines.append(f"- {sentence}{marker}")
    citations = [citation_of(sources[rank], guard.max_run) for rank in used]
    return Answer(guard.filter("\n".join(lines)) + f"\n\n{NO_MODEL_NOTE}", citations)


async def find_sources(
    session: AsyncSession, settings: Settings, context: AnswerContext, question: str
) -> list[SourcedHit]:
    """The GPT's best passages for `question` (its `top_k`, from its pinned files when a version), those
    below its relevance threshold left out: none when its knowledge holds nothing on the question."""
    return await KnowledgeService(session, settings).search(
        context.gpt_id,
        question,
        k=context.top_k,
        file_ids=context.file_ids,
        follow=context.follow_datasets,
        for_answer=True,
    )


async def model_answer(
    llm: ChatModel,
    messages: Sequence[Message],
    sources: Sequence[SourcedHit],
    model: str,
    guard: VerbatimGuard,
    *,
    toolset: Toolset | None = None,
    state: TurnState | None = None,
    allowed: frozenset[tuple[str, str]] = frozenset(),
    decision: bool | None = None,
    can_ask: bool = True,
    approval_note: str = NEEDS_APPROVAL_NOTE,
    client_functions: Sequence[dict[str, Any]] = (),
    **request: Any,
) -> AsyncIterator[Delta | ToolCallStarted | ToolCallEnded | Answer]:
    """Stream the model's reply to `messages` through the verbatim guard, then the `Answer` (the text the
    user saw) citing the sources it used.

    With a `toolset` that has tools the reply is a tool turn (`retrieval.tool_loop.run_turn`: `state`,
    `allowed`, `decision`, `can_ask`, `approval_note` and `client_functions` are its), with the start and
    end of each call among the events and the client's function calls in `Answer.function_calls`.
    `request` holds further Chat Completions parameters (`max_tokens`, `temperature`, ...) for the model.
    """
    if toolset is not None and toolset.definitions:
        turn = state or TurnState(question=next((m["content"] for m in reversed(messages)), ""))
        events = run_turn(
            llm, messages, toolset, guard, model, turn,
            allowed=allowed, decision=decision, can_ask=can_ask, approval_note=approval_note,
            client_functions=client_functions, **request,
        )  # fmt: skip
        async for event in events:
            if not isinstance(event, TurnEnd):
                yield event
                continue
            yield Answer(
                event.content,
                used_citations(event.content, sources, guard.max_run),
                event.usage,
                event.finish_reason,
                event.status,
                list(event.state.records),
                event.pending,
                event.state,
                function_calls=event.function_calls,
            )
        return
    if client_functions:
        request["tools"] = list(client_functions)
    result: ChatResult | None = None

    async def texts() -> AsyncIterator[str]:
        nonlocal result
        async for event in llm.stream(messages, model=model, **request):
            if isinstance(event, Delta):
                yield event.text
            else:
                result = event

    shown: list[str] = []
    async for text in guard.stream(texts()):
        shown.append(text)
        yield Delta(text)
    content = "".join(shown) if shown or result is None else guard.filter(result.content)
    finish = (result.finish_reason if result else None) or "stop"
    calls = [shown_call(guard, c) for c in model_calls(guard, result.tool_calls)] if result else []
    yield Answer(
        content,
        used_citations(content, sources, guard.max_run),
        result.usage if result else None,
        finish,
        function_calls=calls,
    )


def with_offline_note(answer: Answer, toolset: Toolset | None) -> Answer:
    """An extractive answer with the sentence naming the tools it could not call, if the GPT has any."""
    note = offline_tools_note(toolset)
    if note:
        answer.content = f"{answer.content}\n\n{note}"
    return answer


async def grounded_answer(
    session: AsyncSession,
    settings: Settings,
    llm: ChatModel | None,
    context: AnswerContext,
    history: Sequence[Message],
    question: str,
    toolset: Toolset | None = None,
    *,
    allowed: frozenset[tuple[str, str]] = frozenset(),
    state: TurnState | None = None,
    decision: bool | None = None,
    can_ask: bool = True,
    approval_note: str = NEEDS_APPROVAL_NOTE,
) -> AsyncIterator[Delta | ToolCallStarted | ToolCallEnded | Answer]:
    """Stream an answer: `Delta`s of text as they come (and tool call events), then the whole `Answer` with
    its citations. A paused turn goes on from its `state` with the user's `decision` on the pending call.
    Without `can_ask` (no one can approve here: the embed, MCP) a call that needs approval ends the turn with
    `approval_note`."""
    sources = await find_sources(session, settings, context, question)
    guard = answer_guard(settings, context, sources)
    if llm is None:
        answer = with_offline_note(extractive_answer(question, sources, guard), toolset)
        yield Delta(answer.content)
        yield answer
        return
    model = context.model or llm.model
    tools = toolset is not None and bool(toolset.definitions)
    messages = answer_messages(settings, context, sources, history, question, model, tools=tools)
    events = model_answer(
        llm, messages, sources, model, guard,
        toolset=toolset, state=state, allowed=allowed, decision=decision, can_ask=can_ask,
        approval_note=approval_note,
    )  # fmt: skip
    async for event in events:
        yield event
