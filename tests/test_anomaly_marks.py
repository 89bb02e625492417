"""Carrying anomaly marks across a restatement (``carry_marks``): same series and direction, one
to one, the most overlapping pair first."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from costlens.anomalies.carried_marks import carry_marks

MARCH = dt.date(2024, 3, 1)


def _events(*rows: tuple[str, int, int, str]) -> pd.DataFrame:
    """Events of the series owner=pay (amortized): (id, first day, last day of March, direction)."""
    return pd.DataFrame(
        {
            "anomaly_id": [r[0] for r in rows],
            "dimension": "owner",
            "value": "pay",
            "cost_type": "amortized",
            "direction": [r[3] for r in rows],
            "start_date": [pd.Timestamp(MARCH.replace(day=r[1])) for r in rows],
            "last_seen": [pd.Timestamp(MARCH.replace(day=r[2])) for r in rows],
            "marked_as": None,
        }
    )


def test_a_mark_on_a_decrease_is_not_carried_to_an_increase() -> None:
    published = _events(("drop", 10, 15, "decrease"))
    new = _events(("rise", 9, 15, "increase"), ("drop-2", 9, 15, "decrease"))
    assert carry_marks(new, published, {"drop": "expected"}).tolist() == [None, "drop"]
    assert carry_marks(new.iloc[:1], published, {"drop": "expected"}).tolist() == [None]


def test_one_marked_event_carries_to_the_new_event_overlapping_it_most() -> None:
    published = _events(("old", 10, 20, "increase"))  # 11 days
    # 'edge' shares one day (the 10th) and 'moved' shares 10 (11th..20th)
    new = _events(("edge", 5, 10, "increase"), ("moved", 11, 22, "increase"))
    assert carry_marks(new, published, {"old": "expected"}).tolist() == [None, "old"]


def test_a_new_event_overlapping_two_marked_events_takes_one_mark() -> None:
    published = _events(("early", 1, 4, "increase"), ("late", 8, 20, "increase"))
    new = _events(("merged", 3, 12, "increase"))  # 2 days of 'early', 5 of 'late'
    marks = {"early": "expected", "late": "false_positive"}
    assert carry_marks(new, published, marks).tolist() == ["late"]
    # a second new event on 'early' alone gets the other mark
    both = _events(("merged", 3, 12, "increase"), ("first", 1, 2, "increase"))
    assert carry_marks(both, published, marks).tolist() == ["late", "early"]


def test_equal_overlap_goes_to_the_closest_first_day() -> None:
    published = _events(("old", 10, 12, "increase"))
    new = _events(("far", 4, 12, "increase"), ("near", 9, 15, "increase"))  # 3 days each
    assert carry_marks(new, published, {"old": "expected"}).tolist() == [None, "old"]


def test_days_that_touch_without_overlapping_carry_nothing() -> None:
    published = _events(("old", 10, 12, "increase"))
    new = _events(("before", 1, 9, "increase"), ("after", 13, 20, "increase"))
    assert carry_marks(new, published, {"old": "expected"}).tolist() == [None, None]


def test_no_marks_carry_nothing() -> None:
    published = _events(("old", 10, 12, "increase"))
    new = _events(("moved", 9, 12, "increase"), ("old", 10, 12, "increase"))
    assert carry_marks(new, published, {}).tolist() == [None, None]
    assert carry_marks(new, published, {"elsewhere": "expected"}).tolist() == [None, None]
    assert carry_marks(new, published.iloc[:0], {"old": "expected"}).tolist() == [None, "old"]


def test_an_own_mark_and_the_same_event_keep_their_marks_before_any_carry() -> None:
    # 'kept' is still in the scan: it keeps the mark carried to it before, and its published row
    # is not handed to 'next' although 'next' overlaps it as much
    published = _events(("kept", 10, 12, "increase"), ("self", 20, 25, "increase"))
    published.loc[0, "marked_as"] = "original"
    new = _events(
        ("next", 10, 12, "increase"), ("kept", 10, 12, "increase"), ("self", 20, 25, "increase")
    )
    marks = {"original": "expected", "self": "expected"}
    assert carry_marks(new, published, marks).tolist() == [None, "original", "self"]


def test_the_result_keeps_the_events_index() -> None:
    published = _events(("old", 10, 12, "increase"))
    new = _events(("a", 1, 2, "increase"), ("moved", 9, 12, "increase")).set_axis([7, 3])
    got = carry_marks(new, published, {"old": "expected"})
    assert got.to_dict() == {7: None, 3: "old"}
