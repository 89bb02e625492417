"""The hourly scan end to end: hourly line items attributed into ``allocations_hourly``, a
runaway resource raised within the hour of its start while the day's total is still below the
daily gates, then folded into the daily incident once the daily scan sees it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from costlens import queries as q
from costlens.anomalies.driver_ranking import COMBINATION
from costlens.attribution import attribute, load_owners, load_rules
from costlens.config import Settings, load_settings
from costlens.refresh import refresh
from costlens.schema import LINE_ITEMS, create_table_sql
from costlens.warehouse import open_warehouse

RULES = """\
rules:
  - name: app
    match: {tag: app}
    set: {microservice: "{tag:app}"}
"""
OWNERS = """\
owners:
  - id: team-a
    microservices: [api]
  - id: team-b
    microservices: [batch]
"""
START = dt.datetime(2024, 1, 1)  # a Monday
RUNAWAY = dt.datetime(2024, 2, 3, 14)  # a Saturday, 14:00

# Hour h of the series: the api's office hours (8-18 on weekdays) cost three times its nights,
# the batch is flat; both vary by up to ±3 % from hour to hour. From RUNAWAY on, an instance
# nobody turned off adds $12 an hour to the batch, in its own account and usage type.
_LINES = f"""
INSERT INTO line_items (billing_period, usage_start, usage_end, payer_account_id, account_id,
  line_item_type, charge_category, service_code, region, usage_type, operation, resource_id,
  purchase_option, usage_amount, unblended_cost, amortized_cost, net_amortized_cost, list_cost,
  tags)
WITH hours AS (
  SELECT TIMESTAMP '{START}' + INTERVAL (h) HOUR AS t, ((h * 7919) % 61 - 30) / 1000.0 AS noise
  FROM range($hours) r(h)
), lines AS (
  SELECT t, 'i-api' AS resource, 'acct-a' AS account, 'BoxUsage:m5.large' AS usage_type,
         'api' AS app,
         CASE WHEN dayofweek(t) BETWEEN 1 AND 5 AND hour(t) BETWEEN 8 AND 18 THEN 6.0 ELSE 2.0
         END * (1 + noise) AS cost
  FROM hours
  UNION ALL SELECT t, 'i-batch', 'acct-b', 'BoxUsage:c5.xlarge', 'batch', 3.0 * (1 - noise)
  FROM hours
  UNION ALL SELECT t, 'i-runaway', 'acct-r', 'BoxUsage:p4d.24xlarge', 'batch', 12.0
  FROM hours WHERE t >= TIMESTAMP '{RUNAWAY}'
)
SELECT date_trunc('month', t), t, t + INTERVAL 1 HOUR, '900', account, 'Usage', 'Usage',
  'AmazonEC2', 'us-east-1', usage_type, 'RunInstances', resource, 'OnDemand', 1.0,
  CAST(cost AS DECIMAL(18,10)), CAST(cost AS DECIMAL(18,10)), CAST(cost AS DECIMAL(18,10)),
  CAST(cost AS DECIMAL(18,10)), MAP(['app'], [app])
FROM lines
"""


def _settings(data_dir: Path) -> Settings:
    return load_settings(
        None,
        data_dir=data_dir,
        rules=data_dir / "rules.yaml",
        owners=data_dir / "owners.yaml",
        anomalies={"grain": "hour"},
    )


def _deliver(data_dir: Path, until: dt.datetime) -> None:
    """Line items from START to ``until`` (exclusive), attributed with hourly allocations, and a
    refresh."""
    cfg = _settings(data_dir)
    rules = load_rules(cfg.rules, load_owners(cfg.owners))
    with open_warehouse(data_dir) as wh:
        wh.con.execute("DROP TABLE IF EXISTS line_items")
        wh.con.execute(create_table_sql("line_items", LINE_ITEMS))
        hours = int((until - START).total_seconds() // 3600)
        wh.con.execute(_LINES, {"hours": hours})
        result = attribute(wh, rules, hourly_days=cfg.anomalies.hourly_window)
        assert result.hourly is not None and result.hourly.written
        refresh(wh, cfg, full=True)


def _data_dir(root: Path) -> Path:
    path = root / "data"
    path.mkdir()
    (path / "rules.yaml").write_text(RULES)
    (path / "owners.yaml").write_text(OWNERS)
    return path


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _data_dir(tmp_path_factory.mktemp("hourly"))


def _exact(con: object, sql: str, **params: object) -> Decimal:
    row = con.execute(sql, params).fetchone()  # type: ignore[attr-defined]
    return Decimal(row[0])


def test_a_runaway_is_raised_within_the_hour_and_joins_the_daily_incident(data_dir: Path) -> None:
    _deliver(data_dir, RUNAWAY + dt.timedelta(hours=3))  # delivered at 17:00: 3 hours of it
    with q.open_snapshot(data_dir) as snap:
        incidents = q.anomalies(snap, include_marked=True)
        every = q.anomalies(snap, include_marked=True, incidents=False)
        assert list(
            zip(incidents["grain"], incidents["dimension"], incidents["value"], strict=True)
        ) == [
            ("hour", "microservice", "batch")
        ]  # the day's total (+$36 so far) is below the daily gates: no daily event yet
        event = incidents.iloc[0]
        assert event["started_at"] == RUNAWAY  # raised at the runaway's first hour
        assert event["also_seen"] == "owner team-b"  # the owner's hourly event is the same
        assert sorted(every["grain"]) == ["hour", "hour"]
        assert event["days"] == 1 and event["follow_state"] == "changing"
        assert event["impact_cost"] == event["actual_cost"] - event["expected_cost"]
        cause = q.anomaly_root_cause(snap, event["anomaly_id"])
        top = cause.iloc[0]
        assert (top["dimension"], top["value"]) == (
            COMBINATION, "AmazonEC2/acct-r/us-east-1/BoxUsage:p4d.24xlarge",
        )  # fmt: skip
        assert top["share"] > 0.9
        for _, view in cause.groupby("dimension"):
            assert sum(view["delta_cost"], Decimal(0)) == event["impact_cost"]
        assert event["top_driver"].startswith("AmazonEC2")
    with open_warehouse(data_dir) as wh:  # exact money: the three hours' hourly allocations
        assert event["actual_cost"] == _exact(
            wh.con,
            "SELECT SUM(amortized_cost) FROM allocations_hourly WHERE microservice = 'batch'"
            " AND usage_hour >= $t",
            t=RUNAWAY,
        )
    # the next deliveries: two more days of it; the daily scan now sees the change too
    _deliver(data_dir, dt.datetime(2024, 2, 6))
    with q.open_snapshot(data_dir) as snap:
        incidents = q.anomalies(snap, include_marked=True)
        every = q.anomalies(snap, include_marked=True, incidents=False)
        batch = incidents[incidents["value"] == "batch"]
        assert list(batch["grain"]) == ["day"]
        assert "hourly from 03 Feb 2024 14:00" in batch.iloc[0]["also_seen"]
        hourly = every[every["grain"] == "hour"]
        assert set(hourly["incident_id"]) == {batch.iloc[0]["anomaly_id"]}
        assert set(incidents["value"]) <= {"batch", "team-b"}  # the api's office hours are normal


def test_hourly_allocations_in_the_warehouse_sum_to_the_line_items(data_dir: Path) -> None:
    _deliver(data_dir, dt.datetime(2024, 2, 6))
    with open_warehouse(data_dir) as wh:
        first, last = wh.con.execute(
            "SELECT min(usage_hour), max(usage_hour) FROM allocations_hourly"
        ).fetchone()
        assert (first, last) == (dt.datetime(2024, 1, 16), dt.datetime(2024, 2, 5, 23))  # 21 days
        hourly = _exact(wh.con, "SELECT SUM(unblended_cost) FROM allocations_hourly")
        lines = _exact(
            wh.con,
            "SELECT SUM(unblended_cost) FROM line_items WHERE usage_start >= $first",
            first=first,
        )
        assert hourly == lines


def test_the_anomalies_page_says_the_hourly_scan_found_it_and_when(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app_snapshot import APP_FILE
    from streamlit.testing.v1 import AppTest

    data_dir = _data_dir(tmp_path)
    _deliver(data_dir, RUNAWAY + dt.timedelta(hours=3))
    with q.open_snapshot(data_dir) as snap:
        event = q.anomalies(snap).iloc[0]
    monkeypatch.setenv("COSTLENS_DATA_DIR", str(data_dir))
    monkeypatch.setenv("COSTLENS_STATE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    at = AppTest.from_file(str(APP_FILE), default_timeout=60).run()
    at.switch_page("app_pages/anomalies.py").run()
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[0].value
    assert list(table["found"]) == ["hourly, 03 Feb 14:00"]
    said = [m.value for m in at.markdown if m.value.startswith("**Hourly scan:**")]
    impact = f"+${event['impact_cost']:,.2f}".replace("$", "\\$")
    assert said == [
        f"**Hourly scan:** First flagged by the hourly scan at 14:00 on 03 Feb 2024, {impact} over"
        " the expected cost in the flagged hours; the daily scan follows a lasting change once a"
        " day's total shows it."
    ]
    # the owner's weekly digest says the same (the week of 29 January to 4 February)
    from costlens.attribution import load_owners
    from reports.digest.figures import owner_digest
    from reports.digest.week import IsoWeek

    team = load_owners(data_dir / "owners.yaml").owners["team-b"]
    with q.open_snapshot(data_dir) as snap:
        digest = owner_digest(snap, team, IsoWeek(2024, 5))
    (line,) = digest.anomalies
    assert line.value == "batch" and line.followed is not None
    assert line.followed.startswith("First flagged by the hourly scan at 14:00 on 03 Feb 2024")


def test_an_hourly_event_joins_a_daily_incident_and_is_named_only_when_it_came_first() -> None:
    import pandas as pd

    from costlens.anomalies.hourly_scan import merge_grains

    def daily(aid: str, value: str, start: dt.date) -> dict[str, object]:
        seen = "owner team-b" if value == "batch" else None
        return {"anomaly_id": aid, "dimension": "microservice", "value": value,
                "start_date": start, "last_seen": start, "followed_until": dt.date(2024, 2, 9),
                "incident_id": aid, "also_seen": seen}  # fmt: skip

    def hourly(aid: str, value: str, at: dt.datetime) -> dict[str, object]:
        return {"anomaly_id": aid, "dimension": "microservice", "value": value,
                "start_date": at.date(), "last_seen": at.date(), "incident_id": aid,
                "also_seen": None, "grain": "hour", "started_at": pd.Timestamp(at)}  # fmt: skip

    days = pd.DataFrame([daily("d1", "batch", dt.date(2024, 2, 4)),
                         daily("d2", "api", dt.date(2024, 1, 20))])  # fmt: skip
    hours = pd.DataFrame([
        hourly("h1", "batch", dt.datetime(2024, 2, 3, 14)),  # before the daily scan could see it
        hourly("h2", "api", dt.datetime(2024, 1, 28, 0)),  # a change the daily scan saw first
        hourly("h3", "other", dt.datetime(2024, 2, 3, 9)),  # no daily event: its own incident
    ])  # fmt: skip
    out = merge_grains(days, hours).set_index("anomaly_id")
    assert out.loc["h1", "incident_id"] == "d1" and out.loc["h2", "incident_id"] == "d2"
    assert out.loc["h3", "incident_id"] == "h3"
    assert out.loc["d1", "also_seen"] == "owner team-b · hourly from 03 Feb 2024 14:00"
    assert pd.isna(out.loc["d2", "also_seen"])
    assert list(out["grain"]) == ["day", "day", "hour", "hour", "hour"]
