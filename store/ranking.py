"""The store's ranking formulas, documented in docs/store.md and implemented exactly here."""

from __future__ import annotations

# top: a Bayesian average pulls GPTs with few votes toward the prior, so three 5-star votes do not beat
# hundreds of 4.8s. The prior is a mean of 3.5 stars worth 10 votes.
TOP_PRIOR_MEAN = 3.5
TOP_PRIOR_VOTES = 10

# trending: each distinct user who started a conversation in the last 7 days counts once, weighted by how
# recent their latest start is: weight = 2 ** (-age_days / TRENDING_HALF_LIFE_DAYS), summed in SQL
# by store.usage.TRENDING_SQL.
TRENDING_WINDOW_DAYS = 7
TRENDING_HALF_LIFE_DAYS = 2.0


def bayesian_average(rating_sum: int, rating_count: int) -> float:
    """The `top` score: (prior_votes * prior_mean + sum of stars) / (prior_votes + number of votes)."""
    return (TOP_PRIOR_VOTES * TOP_PRIOR_MEAN + rating_sum) / (TOP_PRIOR_VOTES + rating_count)


def rating_average(rating_sum: int, rating_count: int) -> float | None:
    """The plain average shown to users (ranking uses `bayesian_average`)."""
    return round(rating_sum / rating_count, 2) if rating_count else None


def conversations_label(count: int) -> str:
    """Rounded down like the GPT Store: 0, 7, 1K+, 25K+, 1M+."""
    for size, suffix in ((1_000_000, "M"), (1_000, "K")):
        if count >= size:
            return f"{count // size}{suffix}+"
    return str(count)
