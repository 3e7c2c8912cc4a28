"""Offline answers from private passages: short sentences whole, long ones as keywords that keep the facts
(negations included), never a run over the limit; open passages are quoted."""

from __future__ import annotations

import uuid

from retrieval.answer import extractive_answer
from retrieval.knowledge_search import SourcedHit
from retrieval.search import Hit
from retrieval.verbatim import VerbatimGuard, longest_run

GION = (
    "In Gion, the geisha district, private lanes have banned photography without permission; geiko and "
    "maiko on their way to appointments must not be stopped or photographed, and fines of 10,000 yen apply."
)
SHORT = "Fines of 10,000 yen apply in the private lanes of Gion."


def source(text: str, access: str) -> SourcedHit:
    hit = Hit(uuid.uuid4(), uuid.uuid4(), text, 1, None, 0.8, 1, None)
    return SourcedHit(hit=hit, filename="kyoto.md", access=access)


def test_a_long_private_sentence_becomes_keywords_that_keep_the_facts():
    guard = VerbatimGuard([GION], 25)
    answer = extractive_answer("may I photograph geisha in Gion?", [source(GION, "private")], guard)
    assert longest_run(answer.content, [GION]) <= 10
    assert "(keywords)" in answer.content
    for fact in ("photographed", "not", "10,000 yen", "geiko"):
        assert fact in answer.content
    assert answer.citations[0].quote is None


def test_short_private_sentences_and_open_passages_are_quoted():
    private = extractive_answer("fines in Gion", [source(SHORT, "private")], VerbatimGuard([SHORT], 25))
    assert SHORT in private.content
    opened = extractive_answer(
        "may I photograph geisha in Gion?", [source(GION, "open")], VerbatimGuard([], 25)
    )
    assert GION in opened.content and opened.citations[0].quote


def test_a_long_private_chinese_sentence_gives_the_characters_around_the_question():
    rule = (
        "出差回来后十个工作日内，员工需要在报销系统中提交申请，并附上发票原件、行程单和部门经理签字的审批表，"
        "逾期提交的申请财务部一律不予受理。"
    )
    guard = VerbatimGuard([rule], 25)
    answer = extractive_answer("报销需要发票原件吗", [source(rule, "private")], guard)
    assert "发票原件" in answer.content
    assert longest_run(answer.content, [rule]) <= 25


def test_private_sentences_in_a_row_are_not_quoted_as_one_long_run():
    regions = " ".join(
        f"The confidential launch code for region {n} is alpha{n} bravo{n} charlie{n} and nobody outside "
        "the company may learn it."
        for n in (1, 2, 3)
    )
    guard = VerbatimGuard([regions], 25)
    answer = extractive_answer(
        "What is the confidential launch code for region 3?", [source(regions, "private")], guard
    )
    assert longest_run(answer.content, [regions]) <= 25, answer.content
    assert "[…]" not in answer.content  # the answer is built short, not cut by the guard afterwards
    # A sentence that goes on from the one before loses its first word ("… confidential"), not its facts.
    assert all(f"region {n} is alpha{n} bravo{n} charlie{n}" in answer.content for n in (1, 2, 3))
    assert "… confidential launch code" in answer.content and "(keywords)" not in answer.content


def test_a_sentence_found_twice_is_answered_once():
    """A sentence repeated in a passage, or in two overlapping passages, is one bullet: it used to be as
    many bullets as copies (three identical lines for a clause repeated in a contract)."""
    opened = extractive_answer(
        "fines in Gion", [source(f"{SHORT} {SHORT}", "open"), source(SHORT, "open")], VerbatimGuard([], 25)
    )
    assert opened.content.count("Fines of 10,000 yen") == 1
    private = extractive_answer(
        "photograph geisha in Gion", [source(f"{GION} {GION}", "private")], VerbatimGuard([GION], 25)
    )
    assert private.content.count("(keywords)") == 1
