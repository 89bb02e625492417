"""costlens rules check|explain|preview and costlens attribute, on a real warehouse and state DB."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from attribution_fixtures import OWNERS_YAML, insert, line
from helpers import assert_reconciles
from sqlalchemy import select
from typer.testing import CliRunner

from costlens.attribution import load_owners, load_rules
from costlens.attribution.coverage import tag_coverage, top_untagged_resources
from costlens.cli import app
from costlens.state import RuleSetVersion, make_engine, session_factory
from costlens.warehouse import open_warehouse

REPO = Path(__file__).resolve().parent.parent

RULES_YAML = """\
rules:
  - name: app
    match: {tag: app}
    set: {microservice: "{tag:app}"}
  - name: team
    match: {tag: team}
    set: {owner: "{tag:team}"}
  - name: sandbox
    match: {account_name: {glob: "*sandbox"}}
    set: {owner: platform}
"""
LINES = [
    line("r-app", "1.10", {"app": "payments-api"}),
    line("r-team", "4.40", {"team": "Payments-Team "}),
    line("r-sandbox", "2.00", account_name="acme-sandbox"),
    line("r-none", "0.50"),
]


@pytest.fixture
def env(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "rules.yaml").write_text(RULES_YAML)
    (tmp_path / "owners.yaml").write_text(OWNERS_YAML)
    monkeypatch.setenv("COSTLENS_DATA_DIR", str(data_dir))
    monkeypatch.setenv("COSTLENS_RULES", str(tmp_path / "rules.yaml"))
    monkeypatch.setenv("COSTLENS_OWNERS", str(tmp_path / "owners.yaml"))
    with open_warehouse(data_dir) as wh:
        insert(wh.con, LINES)
    return tmp_path


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_check_reports_counts_and_version(env: Path) -> None:
    out = json.loads(_invoke("rules", "check", "--json"))
    version = load_rules(env / "rules.yaml", load_owners(env / "owners.yaml")).version
    assert out["rules"] == 3 and out["splits"] == 0 and out["owners"] == 3
    assert out["version"] == version


def test_check_error_is_one_line_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text("rules:\n  - name: a\n    match: {tagz: x}\n    set: {owner: payments}\n")
    (tmp_path / "owners.yaml").write_text(OWNERS_YAML)
    out = subprocess.run(
        [sys.executable, "-m", "costlens", "rules", "check", "--rules", str(bad),
         "--owners", str(tmp_path / "owners.yaml")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1
    assert f"{bad}:3: unknown condition kind 'tagz'" in lines[0]
    assert "Fix: use one of: account, account_name" in lines[0]


def test_check_lists_every_error_of_the_file(tmp_path: Path) -> None:
    # Issue 11 (6): three errors in three places, all reported (on stderr and in --json).
    bad = tmp_path / "rules.yaml"
    bad.write_text(
        "rules:\n  - name: a\n    match: {tags: x}\n    set: {owner: payments}\n"
        "  - name: b\n    set: {owner: nobody}\n"
        "shared:\n  - name: s\n    match: {service: X}\n    by: weighted\n"
    )
    (tmp_path / "owners.yaml").write_text(OWNERS_YAML)
    args = [sys.executable, "-m", "costlens", "rules", "check", "--rules", str(bad),
            "--owners", str(tmp_path / "owners.yaml")]  # fmt: skip
    out = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert lines[0] == (f"costlens: error: {bad}: 3 errors. Fix: correct each one listed below")
    assert [line.split(". Fix:")[0] for line in lines[1:]] == [
        f"  {bad}:3: unknown condition kind 'tags'",
        f"  {bad}:6: unknown owner 'nobody'",
        f"  {bad}:10: unknown split method 'weighted'",
    ]
    js = json.loads(subprocess.run([*args, "--json"], capture_output=True, timeout=60).stdout)
    assert [e["where"] for e in js["error"]["errors"]] == [f"{bad}:3", f"{bad}:6", f"{bad}:10"]


def test_attribute_records_the_version_in_the_state_database(env: Path, data_dir: Path) -> None:
    out = json.loads(_invoke("attribute", "--json"))
    rules = load_rules(env / "rules.yaml", load_owners(env / "owners.yaml"))
    assert out["rule_version"] == rules.version and out["rows"] == 4
    assert Decimal(out["unallocated"]["unblended_cost"]) == Decimal("0.50")
    engine = make_engine(f"sqlite:///{data_dir / 'state.db'}")
    with session_factory(engine)() as s:
        rows = s.scalars(select(RuleSetVersion)).all()
    engine.dispose()
    assert [(r.version, r.rules_sha256, r.owners_sha256, r.rows, r.periods) for r in rows] == [
        (rules.version, rules.sha256, rules.owners.sha256, 4, "all")
    ]
    assert rows[0].rules_path == str(env / "rules.yaml")
    with open_warehouse(data_dir) as wh:
        assert_reconciles(wh.con, "allocations")
        assert wh.con.execute("SELECT DISTINCT rule_version FROM allocations").fetchall() == [
            (rules.version,)
        ]
    _invoke("attribute", "--period", "2024-01")
    with session_factory(make_engine(f"sqlite:///{data_dir / 'state.db'}"))() as s:
        assert [r.periods for r in s.scalars(select(RuleSetVersion))] == ["all", "2024-01-01"]


def test_explain_names_the_deciding_rule_and_why_others_failed(env: Path) -> None:
    out = _invoke("rules", "explain", "--resource", "r-sandbox")
    assert "owner = 'platform'  <- rule 'sandbox'" in out
    assert "microservice = 'unallocated'  <- default" in out
    assert (
        "rule 'app' (" in out
        and "did not match: tag app is present was false (tag app = None)" in out
    )
    assert "account_name glob '*sandbox' was false" not in out
    js = json.loads(_invoke("rules", "explain", "--resource", "r-team", "--json"))
    assert js[0]["decisions"][1] == {
        "dimension": "owner",
        "value": "payments",
        "rule": "rule 'team'",
    }


def test_explain_unknown_resource_is_an_error(env: Path) -> None:
    result = CliRunner().invoke(app, ["rules", "explain", "--resource", "nope"])
    assert "no line items with resource_id 'nope'" in str(result.exception)


def test_preview_shows_exact_deltas_and_writes_nothing(env: Path, data_dir: Path) -> None:
    _invoke("attribute")
    with open_warehouse(data_dir) as wh:
        before = wh.con.execute("SELECT * FROM allocations ORDER BY ALL").fetchall()
    new = env / "new.yaml"
    new.write_text(RULES_YAML.replace("{owner: platform}", "{owner: checkout}"))
    out = json.loads(_invoke("rules", "preview", str(new), "--json"))
    assert [(d["dimension"], d["value"], Decimal(d["delta"])) for d in out] == [
        ("owner", "checkout", Decimal("2.00")),
        ("owner", "platform", Decimal("-2.00")),
    ]
    with open_warehouse(data_dir) as wh:
        assert wh.con.execute("SELECT * FROM allocations ORDER BY ALL").fetchall() == before
        tables = wh.con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    assert sorted(t[0] for t in tables) == [
        "adjustments",
        "allocations",
        "closed_periods",
        "costlens_meta",
        "deliveries",
        "line_items",
        "line_keys",
    ]
    text = _invoke("rules", "preview", str(env / "rules.yaml"))
    assert "no change" in text


def test_coverage_functions_exact(env: Path, data_dir: Path) -> None:
    _invoke("attribute")
    with open_warehouse(data_dir) as wh:
        (row,) = tag_coverage(wh.con, cost_column="unblended_cost")
        # 1.10 + 4.40 by tags, 2.00 by the account rule, 0.50 unallocated
        assert row[:6] == ("all", Decimal("8.00"), Decimal("5.50"), Decimal("2.00"), None,
                           Decimal("0.50"))  # fmt: skip
        assert row[6:] == (5.5 / 8, 2 / 8, 0.0, 0.5 / 8, Decimal("8.00"), None)
        top = top_untagged_resources(wh.con, limit=5, cost_column="unblended_cost")
        assert [(r[0], r[3], r[5], r[6]) for r in top] == [
            ("r-sandbox", "platform", "rule", Decimal("2.00")),
            ("r-none", "unallocated", "unallocated", Decimal("0.50")),
        ]
        by_account = tag_coverage(wh.con, "account_id")
        assert [r[0] for r in by_account] == ["111"]


@pytest.mark.slow
def test_shipped_rules_on_the_real_sample_exports(samples_dir: Path, tmp_path: Path) -> None:
    """The real exports ingest and attribute with data/rules.yaml, conserving every cent."""
    env = {"COSTLENS_DATA_DIR": str(tmp_path / "d"), "PATH": "/usr/bin:/bin"}
    for sample in ("cur1-csv-anonymized", "focus-1.0"):
        subprocess.run(
            [sys.executable, "-m", "costlens", "ingest", str(samples_dir / sample)],
            check=True, capture_output=True, env=env, cwd=REPO, timeout=120,
        )  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-m", "costlens", "attribute", "--json"],
        check=True, capture_output=True, text=True, env=env, cwd=REPO, timeout=120,
    )  # fmt: skip
    summary = json.loads(out.stdout)
    assert summary["rows"] > 0
    with open_warehouse(tmp_path / "d") as wh:
        assert_reconciles(wh.con, "allocations")
