"""SQL shapes the planner can answer from indexes, whatever the tables' sizes."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa


def in_select(column: sa.ColumnElement[Any], select: sa.Select) -> sa.ColumnElement[bool]:
    """`column = ANY(ARRAY(select))`: the sub-select's values as an array, for a condition inside an `OR`.

    `column IN (select)` alone is a semi-join, but inside an `OR` PostgreSQL turns it into a hashed
    SubPlan tested against every row of the outer table, so no index on `column` can be used: the whole
    table is read. `ANY(ARRAY(select))` runs the sub-select once (an InitPlan) and compares with an array,
    which each arm of the `OR` answers from its own index (a BitmapOr), as `column = ANY($1)` would.
    (PostgreSQL documentation, "Row and Array Comparisons" and "Combining Multiple Indexes".)

    Measured on the search's scope statement at 100,000 datasets and 300,000 files: 221 ms with `IN`,
    0.51 ms with this (`bench/scope.py`; docs/performance.md, "Statements that must not grow with the
    tables"). `select` names one column."""
    return column == sa.any_(sa.func.ARRAY(select.scalar_subquery()))
