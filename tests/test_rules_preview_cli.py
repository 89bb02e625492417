"""`rules preview` refuses what it cannot compare, instead of a traceback or a false "no change"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from attribution_fixtures import OWNERS_YAML, insert, line
from typer.testing import CliRunner

from costlens.cli import app
from costlens.errors import RuleError
from costlens.warehouse import open_warehouse

RULES = """\
rules:
  - name: team
    match: {tag: team}
    set: {owner: "{tag:team}"}
  - name: sandbox
    match: {account_name: {glob: "*sandbox"}}
    set: {owner: platform}
"""


@pytest.fixture
def env(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "rules.yaml").write_text(RULES)
    (tmp_path / "owners.yaml").write_text(OWNERS_YAML)
    (tmp_path / "new.yaml").write_text(RULES.replace("{owner: platform}", "{owner: checkout}"))
    monkeypatch.setenv("COSTLENS_DATA_DIR", str(data_dir))
    monkeypatch.setenv("COSTLENS_RULES", str(tmp_path / "rules.yaml"))
    monkeypatch.setenv("COSTLENS_OWNERS", str(tmp_path / "owners.yaml"))
    with open_warehouse(data_dir) as wh:
        insert(wh.con, [line("r-sandbox", "2.00", account_name="acme-sandbox"), line("r", "1.00")])
    assert CliRunner().invoke(app, ["attribute"]).exit_code == 0
    return tmp_path


def _preview(env: Path, *args: str) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(app, ["rules", "preview", str(env / "new.yaml"), *args])
    return result.exit_code, result.output, result.exception


def test_an_unknown_cost_type_is_a_rule_error_listing_the_valid_ones(env: Path) -> None:
    code, _, exc = _preview(env, "--cost-column", "blended_cost")
    assert code == 1 and isinstance(exc, RuleError)
    assert str(exc) == (
        "--cost-type: unknown cost type 'blended'. Fix: use one of unblended, amortized, "
        "net_amortized, list"
    )


def test_the_cost_type_vocabulary_and_the_old_spelling_agree(env: Path) -> None:
    outputs = [_preview(env, *args, "--json") for args in
               (["--cost-type", "unblended"], ["--cost-column", "unblended_cost"])]  # fmt: skip
    assert outputs[0][:2] == outputs[1][:2] and outputs[0][0] == 0
    assert [(d["value"], d["delta"]) for d in json.loads(outputs[0][1])] == [
        ("checkout", "2.0000000000"),
        ("platform", "-2.0000000000"),
    ]


def test_a_period_without_line_items_is_refused_not_no_change(env: Path) -> None:
    code, output, exc = _preview(env, "--period", "2030-01")
    assert code == 1 and isinstance(exc, RuleError) and "no change" not in output
    assert str(exc).startswith("--period: no line items in billing period 2030-01. Fix: use one of")
