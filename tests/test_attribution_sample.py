"""data/rules.yaml + data/owners.yaml on the generated sample company: >= 95% attributed, exact."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from helpers import assert_reconciles

from costlens.attribution import attribute, load_owners, load_rules
from costlens.attribution.coverage import tag_coverage
from costlens.attribution.explain import explain_resource
from costlens.attribution.preview import preview_rules
from costlens.config import load_settings
from costlens.warehouse import open_warehouse

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def sample_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from costlens.sample import generate_sample
    from ingest import ingest

    root = tmp_path_factory.mktemp("sample")
    # The demo's seed; at small scales a single untagged resource can weigh several percent.
    generate_sample(
        root / "exports", format="cur2", months=2, seed=1, scale=0.3, end_month=date(2025, 4, 1)
    )
    cfg = load_settings(None, data_dir=root / "data")
    ingest(cfg, str(root / "exports"))
    return root / "data"


@pytest.mark.slow
def test_shipped_rules_attribute_95_percent_exactly(sample_warehouse: Path) -> None:
    rules = load_rules(REPO / "data/rules.yaml", load_owners(REPO / "data/owners.yaml"))
    with open_warehouse(sample_warehouse) as wh:
        result = attribute(wh, rules)
        assert_reconciles(wh.con, "allocations")
        for column in ("unblended_cost", "amortized_cost"):
            assert result.unallocated_share(column) < Decimal("0.05"), result.unallocated
        (overall,) = tag_coverage(wh.con)
        assert overall.tag_share is not None and overall.tag_share > 0.5
        assert overall.split_share is not None and overall.split_share > 0.05
        shared = "SELECT DISTINCT rule FROM allocations WHERE allocation = 'shared'"
        splits = {r[0] for r in wh.con.execute(shared).fetchall()}
        assert {"eks-cluster", "network", "support"} <= splits
        # every owner in owners.yaml that the sample tags gets cost; none is invented
        owners = {r[0] for r in wh.con.execute("SELECT DISTINCT owner FROM allocations").fetchall()}
        assert owners <= {*rules.owners.owners, "unallocated"}
        assert len(owners) >= 10


@pytest.mark.slow
def test_explain_and_preview_answer_on_the_sample(sample_warehouse: Path) -> None:
    rules = load_rules(REPO / "data/rules.yaml", load_owners(REPO / "data/owners.yaml"))
    with open_warehouse(sample_warehouse) as wh:
        (nat,) = wh.con.execute(
            "SELECT resource_id FROM line_items WHERE operation LIKE 'NatGateway%' LIMIT 1"
        ).fetchone() or (None,)
        assert nat is not None
        (first, *_) = explain_resource(wh.con, rules, nat)
        assert first.split == "network"
        # The split decides where the cost lands, so it comes first, with its targets.
        network = next(s for s in rules.splits if s.name == "network")
        assert first.lines()[1] == (
            f"  shared: split 'network' ({network.where}) takes this cost and shares it among "
            f"{', '.join(network.targets)} in proportion to their own amortized cost; the values "
            "below are the rules' before it"
        )
        # Dropping the team-tag rule can only move cost to other owners / unallocated: conserved.
        text = (REPO / "data/rules.yaml").read_text()
        without = text.replace("  - name: team-tag\n    match: {tag: team | owner}\n"
                               "    set: {owner: \"{tag:team | owner}\"}\n", "")  # fmt: skip
        assert without != text
        from costlens.attribution import parse_rules

        new = parse_rules(without, "new.yaml", rules.owners)
        result = preview_rules(wh.con, rules, new)
        owners = [d for d in result.deltas if d.dimension == "owner"]
        assert sum(d.delta for d in owners) == 0
        assert sum(d.new for d in owners) == result.total
