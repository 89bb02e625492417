"""The state database's models and log functions on SQLite and PostgreSQL alike."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import inspect, text

from costlens.state import (
    AnomalyFeedback,
    RuleSetVersion,
    create_all,
    current_actor,
    export_records,
    make_engine,
    period_events,
    record_export,
    record_period_event,
    session_factory,
)


def test_create_all_makes_every_table(state_url: str) -> None:
    engine = make_engine(state_url)
    try:
        create_all(engine)
        create_all(engine)  # idempotent
        names = set(inspect(engine).get_table_names())
        assert {"rule_set_versions", "anomaly_feedback", "period_events", "export_records"} <= names
        with session_factory(engine)() as s:
            version = RuleSetVersion(
                version="v1",
                rules_sha256="a",
                owners_sha256="b",
                rules_path="r",
                owners_path="o",
                periods="all",
                rows=3,
            )
            s.add(version)
            s.add(AnomalyFeedback(anomaly_id="x1", verdict="expected", note="launch"))
            s.commit()
            assert s.query(RuleSetVersion).one().rows == 3
            assert s.query(AnomalyFeedback).one().verdict == "expected"
            assert s.execute(text("SELECT count(*) FROM period_events")).scalar() == 0
    finally:
        engine.dispose()


def test_period_events_round_trip(state_url: str) -> None:
    feb, mar = date(2024, 2, 1), date(2024, 3, 1)
    at = datetime(2024, 3, 4, 9, 30, tzinfo=UTC)
    totals = {"unblended_cost": Decimal("1234.5678901234")}
    record_period_event(state_url, billing_period=feb, action="close", actor="anna",
                        totals=totals, at=at)  # fmt: skip
    record_period_event(state_url, billing_period=mar, action="close", actor="anna")
    record_period_event(state_url, billing_period=feb, action="reopen", reason="SLA credit",
                        actor="bob", at=datetime(2024, 3, 5, tzinfo=UTC))  # fmt: skip
    events = period_events(state_url, feb)
    assert [(e.action, e.reason, e.actor) for e in events] == [
        ("close", "", "anna"),
        ("reopen", "SLA credit", "bob"),
    ]
    assert events[0].billing_period == feb
    assert json.loads(events[0].totals) == {"unblended_cost": "1234.5678901234"}
    assert events[0].at.replace(tzinfo=events[0].at.tzinfo or UTC) == at
    assert len(period_events(state_url)) == 3
    with pytest.raises(ValueError, match="close or reopen"):
        record_period_event(state_url, billing_period=feb, action="delete")


def test_export_records_round_trip(state_url: str) -> None:
    built = datetime(2024, 3, 6, 7, 0, tzinfo=UTC)
    record_export(
        state_url, periods="2024-01..2024-02", format="xlsx", cost_type="unblended",
        by="owner,microservice", path="/tmp/out.xlsx", totals={"unblended_cost": Decimal("2.50")},
        reconciled=True, snapshot_built_at=built, actor="anna",
    )  # fmt: skip
    [row] = export_records(state_url)
    got = (row.periods, row.format, row.cost_type, row.by, row.path, row.reconciled, row.actor)
    assert got == (
        "2024-01..2024-02", "xlsx", "unblended", "owner,microservice", "/tmp/out.xlsx", True, "anna"
    )  # fmt: skip
    assert json.loads(row.totals) == {"unblended_cost": "2.50"}
    assert row.snapshot_built_at is not None
    assert row.snapshot_built_at.replace(tzinfo=row.snapshot_built_at.tzinfo or UTC) == built


def test_actor(monkeypatch: pytest.MonkeyPatch) -> None:
    assert current_actor({"COSTLENS_USER": " anna "}) == "anna"
    monkeypatch.setattr("getpass.getuser", lambda: "login")
    assert current_actor({}) == "login"

    def no_user() -> str:
        raise OSError("no user")

    monkeypatch.setattr("getpass.getuser", no_user)
    assert current_actor({}) == ""
