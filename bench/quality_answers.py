"""Answer figures of bench/quality.py: "not in the knowledge" on off-topic and on-topic questions per
threshold, and the share of offline answers that contain the expected fact."""

from __future__ import annotations

import json
from pathlib import Path

from retrieval.answer import extractive_answer
from retrieval.service import KnowledgeService
from retrieval.verbatim import VerbatimGuard

OFF_TOPIC = json.loads(
    (Path(__file__).resolve().parent.parent / "tests" / "data" / "off_topic_eval.json").read_text("utf-8")
)
THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)
K = 8


async def answer_figures(db, settings, embedder, eval_set, result) -> dict:
    gpt_id = result["gpt_id"]
    on_scores: list[float] = []
    off_scores: list[float] = []
    contains = 0
    found: list[bool] = []  # per labelled query: the answer contains its fact
    async with db.sessionmaker() as session:
        service = KnowledgeService(session, settings, embedder=embedder)
        for q in eval_set.queries:
            sources = await service.search(gpt_id, q.text, k=K)
            on_scores.append(sources[0].hit.score if sources else 0.0)
            threshold = getattr(settings, "retrieval_score_threshold", 0.0)  # 0: code before the threshold
            used = [s for s in sources if s.hit.score >= threshold]
            private = [s.hit.text for s in used if s.access != "open"]
            guard = VerbatimGuard(private, settings.verbatim_max_words)
            answer = extractive_answer(q.text, used, guard)
            if q.answer:
                found.append(q.answer.lower() in answer.content.lower())
                contains += found[-1]
        for text in OFF_TOPIC.get(eval_set.name, []):
            sources = await service.search(gpt_id, text, k=K)
            off_scores.append(sources[0].hit.score if sources else 0.0)
    labelled = sum(1 for q in eval_set.queries if q.answer)
    return {"on": on_scores, "off": off_scores, "contains": contains, "count": labelled, "found": found}


def print_answer_figures(results: dict[str, dict]) -> None:
    print("\nNot in the knowledge: share of on-topic questions answered / off-topic refused, by threshold")
    print(f"{'set':14} {'on':>4} {'off':>4}  " + "  ".join(f"t={t:<9}" for t in THRESHOLDS))
    for name, result in results.items():
        figures = result.get("answers")
        if not figures or not figures["off"]:  # sets without an off-topic list: on-topic share only
            if figures:
                t = THRESHOLDS
                cells = "  ".join(
                    f"{sum(s >= x for s in figures['on']) / len(figures['on']):.2f}/-      " for x in t
                )
                print(f"{name:14} {len(figures['on']):4d} {0:4d}  {cells}")
            continue
        on, off = figures["on"], figures["off"]
        cells = [
            f"{sum(s >= t for s in on) / len(on):.2f}/{sum(s < t for s in off) / len(off):.2f}"
            for t in THRESHOLDS
        ]
        print(f"{name:14} {len(on):4d} {len(off):4d}  " + "  ".join(f"{c:<11}" for c in cells))
        print(f"{'':14} top score on-topic min {min(on):.3f}; off-topic max {max(off):.3f}")
    print("\nOffline answers that contain the expected fact (the labelled phrase)")
    for name, result in results.items():
        figures = result.get("answers")
        if figures and figures["count"]:
            share = figures["contains"] / figures["count"]
            print(f"{name:14} {figures['contains']}/{figures['count']} = {share:.2f}")
