"""The root cause's split and ranking in DuckDB (``rank_finest``) against a plain-Python
reference of the same definition: the expected cost split by largest remainder in units of
1E-10 (ties to the earlier row), every view's sums, ranked and folded, and the headline. Equal
to the last decimal on random finest rows (negative, zero and equal weights, no baseline,
folded views) and on a crafted spread-out drop."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal, localcontext
from fractions import Fraction

import duckdb
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from costlens.anomalies.driver_ranking import (
    _FALLBACK_ORDER,
    COMBINATION,
    COMBINED,
    DRIVERS_BY_DIMENSION,
    HEADLINE_ORDER,
    HEADLINE_SHARE,
    RESOURCE,
    ROOT_CAUSE_ROWS,
    CauseRequest,
    Contribution,
    FinestQuery,
    rank_finest,
)

Finest = dict[tuple[str, ...], tuple[Decimal, Decimal]]
DAY = dt.date(2024, 3, 20)
QUANTUM = Decimal("1E-10")


def reference_split(expected: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """Largest remainder in 1E-10 units, in exact rationals (ties: the earlier weight)."""
    if not weights:
        return []
    total = sum(weights, Decimal(0))
    if total == 0:
        weights, total = [Decimal(1)] * len(weights), Decimal(len(weights))
    with localcontext() as ctx:
        ctx.prec = 80
        units = int((expected / QUANTUM).to_integral_value())
    raw = [Fraction(units) * Fraction(w) / Fraction(total) for w in weights]
    floors = [math.floor(r) for r in raw]
    left = units - sum(floors)
    for i in sorted(range(len(raw)), key=lambda i: (-(raw[i] - floors[i]), i))[:left]:
        floors[i] += 1
    return [(Decimal(f) * QUANTUM).quantize(QUANTUM) for f in floors]


def reference(request: CauseRequest, finest: Finest) -> list[Contribution]:
    """The definition in the module's docstring, one row at a time."""
    columns = [*DRIVERS_BY_DIMENSION[request.dimension]]
    if request.with_resources:
        columns.append(RESOURCE)
    rows = sorted(finest)
    actual = [finest[r][0] for r in rows]
    base = [finest[r][1] for r in rows]
    expected = reference_split(request.expected, base if any(base) else actual)

    def of(row: tuple[str, ...], column: str) -> str:
        if column == COMBINATION:
            return "/".join(of(row, c) for c in COMBINED)
        return request.value if column == request.dimension else row[columns.index(column)]

    views: dict[str, dict[str, list[Decimal]]] = {}
    for view in HEADLINE_ORDER:
        if view == COMBINATION or view in columns:
            sums = views.setdefault(view, {})
            for row, e, a in zip(rows, expected, actual, strict=True):
                acc = sums.setdefault(of(row, view), [Decimal(0), Decimal(0)])
                acc[0], acc[1] = acc[0] + e, acc[1] + a
    impact = sum((a - e for e, a in views[COMBINATION].values()), Decimal(0))

    def share(delta: Decimal) -> float:
        return float(delta) / float(impact) if impact else 0.0

    listed: dict[str, list[Contribution]] = {}
    for view, values in views.items():
        if len(values) < 2 and view not in (COMBINATION, RESOURCE, "microservice"):
            continue
        ranked = sorted(
            (Contribution(view, v, e, a, a - e, share(a - e)) for v, (e, a) in values.items()),
            key=lambda c: (-abs(c.delta_cost), c.value),
        )
        kept, rest = ranked[:ROOT_CAUSE_ROWS], ranked[ROOT_CAUSE_ROWS:]
        if rest:
            e = sum((c.expected_cost for c in rest), Decimal(0))
            a = sum((c.actual_cost for c in rest), Decimal(0))
            kept.append(Contribution(view, "", e, a, a - e, share(a - e), len(rest)))
        listed[view] = kept
    sign = 1 if impact >= 0 else -1
    headline = next(
        (
            c
            for view in HEADLINE_ORDER
            for c in listed.get(view, [])
            if not c.others and sign * c.delta_cost > 0 and c.share >= HEADLINE_SHARE
        ),
        None,
    )
    if headline is None:
        candidates = [c for view in _FALLBACK_ORDER for c in listed.get(view, []) if not c.others]
        headline = next((c for c in candidates if sign * c.delta_cost > 0), None) or next(
            iter(candidates), None
        )
    out = [headline] if headline is not None else []
    return out + [c for view in HEADLINE_ORDER for c in listed.get(view, []) if c is not headline]


CON = duckdb.connect()


def rank(requests: list[CauseRequest], finest: dict[str, Finest]) -> dict[str, list[Contribution]]:
    """``rank_finest`` on an in-memory DuckDB, the finest rows given as exact text."""
    con = CON.cursor()
    queries = []
    for i, request in enumerate(requests):
        columns = (*DRIVERS_BY_DIMENSION[request.dimension],)
        if request.with_resources:
            columns += (RESOURCE,)
        rows = finest.get(request.key, {})
        frame = pd.DataFrame(
            [(request.key, *key, str(a), str(b)) for key, (a, b) in rows.items()],
            columns=["anomaly_id", *columns, "a", "b"],
            dtype=object,
        )
        con.register(f"_rows{i}", frame)
        select = ", ".join(columns)
        queries.append(
            FinestQuery(
                f"SELECT anomaly_id, {select}, CAST(a AS DECIMAL(38, 10)) AS actual_sum, "
                f"CAST(b AS DECIMAL(38, 10)) AS base_sum FROM _rows{i}",
                columns,
            )
        )
    return rank_finest(con, requests, queries)


MONEY = st.decimals(min_value=-50, max_value=500, places=10, allow_nan=False, allow_infinity=False)


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[CauseRequest], dict[str, Finest]]:
    requests, finest = [], {}
    for i in range(draw(st.integers(1, 3))):
        dimension = draw(st.sampled_from(sorted(DRIVERS_BY_DIMENSION)))
        resources = draw(st.booleans())
        width = len(DRIVERS_BY_DIMENSION[dimension]) + resources
        # few distinct values per column so rows share them (views fold, remainders tie)
        key = st.tuples(*[st.sampled_from(["", "a", "b", "c"]) for _ in range(width - 1)],
                        st.sampled_from([f"r{j:02d}" for j in range(14)]))  # fmt: skip
        no_base = draw(st.booleans())
        amount = st.sampled_from([Decimal(0), Decimal(3), Decimal("-1.5")]) | MONEY
        base = st.just(Decimal(0)) if no_base else amount
        rows = draw(st.dictionaries(key, st.tuples(amount, base), min_size=1, max_size=30))
        expected = draw(st.sampled_from([Decimal(0), Decimal(10), Decimal("-7")]) | MONEY)
        request = CauseRequest(f"e{i}", dimension, "v", (DAY,), DAY, DAY, expected, resources)
        requests.append(request)
        finest[request.key] = rows
    return requests, finest


@settings(max_examples=60, deadline=None)
@given(cases())
def test_duckdb_ranking_equals_the_reference_to_the_last_decimal(
    case: tuple[list[CauseRequest], dict[str, Finest]],
) -> None:
    requests, finest = case
    got = rank(requests, finest)
    for request in requests:
        assert got[request.key] == reference(request, finest[request.key]), request
        for view in {c.dimension for c in got[request.key]}:
            rows = [c for c in got[request.key] if c.dimension == view]
            assert sum(c.expected_cost for c in rows) == request.expected, view


def test_equal_weights_give_the_extra_units_to_the_earlier_rows() -> None:
    """$10 over three equal rows: 3.3333333334 to the first row in sort order, then 3.33..."""
    request = CauseRequest("e", "microservice", "m", (DAY,), DAY, DAY, Decimal(10), True)
    finest = {
        ("AmazonEC2", "1", "us-east-1", "BoxUsage", r): (Decimal(4), Decimal(1))
        for r in ("i-c", "i-a", "i-b")
    }
    got = {c.value: c.expected_cost for c in rank([request], {"e": finest})["e"]
           if c.dimension == RESOURCE}  # fmt: skip
    assert got == {"i-a": Decimal("3.3333333334"), "i-b": Decimal("3.3333333333"),
                   "i-c": Decimal("3.3333333333")}  # fmt: skip


def test_a_request_without_rows_gets_no_causes() -> None:
    request = CauseRequest("e", "owner", "o", (DAY,), DAY, DAY, Decimal(5), False)
    assert rank([request], {}) == {"e": []}


def test_a_spread_out_drop_is_headed_by_a_row_that_drops() -> None:
    """No row explains half of a drop spread over five accounts, the largest row a rise: the
    headline is the largest falling account (the service is the event's own), never the rise,
    and every view still adds up to the impact."""
    finest = {
        (f"o{i}", f"m{i}", f"a{i}", "us-east-1", "BoxUsage"): (Decimal(actual), Decimal(100))
        for i, actual in enumerate(("75", "75", "75", "80", "130"), start=1)
    }
    request = CauseRequest("e", "service_code", "AmazonEC2", (DAY,), DAY, DAY, Decimal(500), False)
    ranked = rank([request], {"e": finest})["e"]
    impact = Decimal(75 * 3 + 80 + 130 - 500)
    assert (ranked[0].dimension, ranked[0].value, ranked[0].delta_cost) == (
        "account_id", "a1", Decimal(-25)
    )  # fmt: skip
    assert max(abs(c.delta_cost) for c in ranked) == 30  # the rise, ranked below it
    assert ranked == reference(request, finest)
    for view in {c.dimension for c in ranked}:
        assert sum(c.delta_cost for c in ranked if c.dimension == view) == impact, view
