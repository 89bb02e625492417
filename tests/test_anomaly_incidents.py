"""Grouping events of one change on several dimensions into one incident (pure)."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from costlens.anomalies.incidents import LEAD_DAYS, MIN_SHARE, SLACK_DAYS, group_incidents

DAY = dt.date(2026, 10, 8)


def _events(*rows: tuple[str, str, str, int, int]) -> pd.DataFrame:
    return pd.DataFrame(
        [(aid, dim, value, DAY + dt.timedelta(days=a), DAY + dt.timedelta(days=b))
         for aid, dim, value, a, b in rows],
        columns=["anomaly_id", "dimension", "value", "start_date", "last_seen"],
    )  # fmt: skip


def _causes(*rows: tuple[str, str, float]) -> pd.DataFrame:
    return pd.DataFrame(
        [(aid, "microservice", ms, share) for aid, ms, share in rows],
        columns=["anomaly_id", "dimension", "value", "share"],
    )


def _incidents(
    events: pd.DataFrame, causes: pd.DataFrame, held: dict[str, int] | None = None
) -> dict[str, str]:
    until = {aid: DAY + dt.timedelta(days=d) for aid, d in (held or {}).items()}
    out = group_incidents(events, causes, until)
    return dict(zip(out["anomaly_id"], out["incident_id"], strict=True))


def test_a_broader_event_joins_the_microservice_that_explains_it() -> None:
    events = _events(("m", "microservice", "reviews", 0, 1),
                     ("s", "service_code", "AWSLambda", 1, 2),
                     ("a", "account_id", "2109", -SLACK_DAYS - 2, -SLACK_DAYS))  # fmt: skip
    causes = _causes(("s", "reviews", 0.9), ("s", "other", 0.1), ("a", "reviews", 0.95))
    out = group_incidents(events, causes).set_index("anomaly_id")
    assert out["incident_id"].to_dict() == {"m": "m", "s": "m", "a": "m"}
    assert out.loc["m", "also_seen"] == "account 2109 · AWS service AWSLambda"
    assert out.loc[["s", "a"], "also_seen"].isna().all()


def test_too_far_apart_or_too_small_a_share_stays_its_own_incident() -> None:
    events = _events(("m", "microservice", "reviews", 0, 1),
                     ("late", "owner", "catalog", SLACK_DAYS + 2, SLACK_DAYS + 4),
                     ("spread", "owner", "catalog", 0, 1))  # fmt: skip
    causes = _causes(("late", "reviews", 1.0), ("spread", "reviews", MIN_SHARE - 0.01))
    assert _incidents(events, causes) == {"m": "m", "late": "late", "spread": "spread"}


def test_of_two_events_of_the_microservice_the_closest_start_wins() -> None:
    events = _events(("m1", "microservice", "orders", 0, 3),
                     ("m2", "microservice", "orders", 9, 12),
                     ("o", "owner", "fulfillment", 5, 9))  # fmt: skip
    causes = _causes(("o", "orders", 0.8))
    assert _incidents(events, causes)["o"] == "m2"


def test_no_events() -> None:
    out = group_incidents(_events(), _causes())
    assert out.empty and {"incident_id", "also_seen"} <= set(out.columns)


def test_a_change_explained_by_two_microservice_incidents_joins_the_larger() -> None:
    events = _events(("m1", "microservice", "reviews", 0, 1),
                     ("m2", "microservice", "sessions", 4, 6),
                     ("a", "account_id", "2109", 0, 6),
                     ("b", "account_id", "3109", 0, 6))  # fmt: skip
    causes = _causes(
        ("a", "reviews", 0.3), ("a", "sessions", 0.35), ("a", "other", 0.35),
        ("b", "reviews", 0.3), ("b", "sessions", 0.1), ("b", "other", 0.6),
    )  # fmt: skip
    assert _incidents(events, causes) == {"m1": "m1", "m2": "m2", "a": "m2", "b": "b"}


def test_a_broader_event_after_a_microservice_event_joins_it_while_its_change_holds() -> None:
    """A level shift or a ramp: the microservice's detector accepted the new level on day 5; the
    account, where the change is a smaller part, crosses its gates on day 12."""
    events = _events(("m", "microservice", "sessions", 0, 4),
                     ("a", "account_id", "2109", 12, 14))  # fmt: skip
    causes = _causes(("a", "sessions", 0.7))
    assert _incidents(events, causes, {"m": 30}) == {"m": "m", "a": "m"}
    assert _incidents(events, causes, {"m": 6}) == {"m": "m", "a": "a"}  # a spike: over by then


def test_a_broader_event_before_the_microservice_event_joins_it_within_the_lead() -> None:
    """A slow drift clears the gates of a busier owner series before its own microservice's."""
    events = _events(
        ("m", "microservice", "orders", 0, 3),
        ("o", "owner", "fulfillment", -10, -8),
        ("far", "owner", "fulfillment", -LEAD_DAYS - SLACK_DAYS - 3, -LEAD_DAYS - 5),
    )
    causes = _causes(("o", "orders", 1.0), ("far", "orders", 1.0))
    assert _incidents(events, causes) == {"m": "m", "o": "m", "far": "far"}
