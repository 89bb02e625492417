"""Every dashboard page, for every owner, on the data shapes a first sync meets (issue 11).

Each shape is a real data folder made by ``costlens sync`` from an exports folder:

- ``one_month``: a generated CUR 2.0 export of a single month (a new user's first sync), so
  nothing has spend in "the same days of last month" or "last month";
- ``owner_without_spend``: two generated months and an owners.yaml with one more owner whose only
  microservice no tag names (it has a budget, so the Owners page lists it, at $0.00);
- ``credits_only_month``: a generated month followed by a hand-written month of the same export
  holding credits and negative usage only (the month to date is below zero, and owners with
  spend last month have none this month);
- ``real_month``: the real anonymized legacy CUR CSV export (one month; skipped where
  ``../shared/samples`` is absent).

No page may show an exception or an error box on any of them. A few exact figures check that
what renders is right: money stays exact ``Decimal`` however little data there is.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from app_snapshot import (
    APP_FILE,
    OWNERS_YAML,
    REPO,
    DemoData,
    dollars,
    generate_sample,
    month_to_date_windows,
    sync_exports,
    warehouse_dates,
    warehouse_owners,
    warehouse_spend,
)
from streamlit.testing.v1 import AppTest

from app_pages import pages

pytestmark = pytest.mark.slow  # each shape is built once, by the real CLI

PAGES = tuple(p.path for p in pages.PAGES)
SHAPES = ("one_month", "owner_without_spend", "credits_only_month", "real_month")
EXPORT = "costlens-cur2"  # the generator's CUR 2.0 export name
REAL_MONTH = REPO.parent / "shared" / "samples" / "cur1-csv-anonymized"

GHOST = {
    "id": "ghost-team",
    "display_name": "Ghost Team",
    "business_owner": "Nobody Yet",
    "email": "ghost@example.com",
    "monthly_budget": 5000,
    "cost_center": "CC-9999",
    "microservices": ["ghost-api"],
}
"""An owner whose only microservice no resource's tags name."""

CREDITS_PERIOD = date(2025, 7, 1)
CREDITS: list[tuple[int, str, dict[str, str], str]] = [
    (1, "Credit", {"user_team": "payments", "user_app": "payments-api"}, "-40.00"),
    (1, "Usage", {"user_team": "checkout", "user_app": "cart"}, "-12.3456789012"),
    (2, "Credit", {}, "-100.00"),
    (3, "Usage", {"user_team": "search", "user_app": "search-api"}, "-0.01"),
]
"""(day of July, line item type, resource tags, unblended cost): a month of credits only."""
CREDITS_TOTAL = Decimal("-152.3556789012")  # the sum of the four costs above, by hand


# --- the shapes ------------------------------------------------------------------------------


def _one_month(root: Path) -> DemoData:
    exports = generate_sample(root / "exports", *_sample(months=1, scale="0.1"))
    return sync_exports(DemoData(root / "data"), exports)


def _owner_without_spend(root: Path) -> DemoData:
    exports = generate_sample(root / "exports", *_sample(months=2, scale="0.05"))
    config = yaml.safe_load(OWNERS_YAML.read_text())
    config["owners"].append(GHOST)
    owners = root / "owners.yaml"
    owners.write_text(yaml.safe_dump(config, sort_keys=False))
    return sync_exports(DemoData(root / "data", owners=owners), exports)


def _credits_only_month(root: Path) -> DemoData:
    exports = generate_sample(root / "exports", *_sample(months=1, scale="0.1"))
    _write_credits_month(exports, date(2025, 6, 1), CREDITS_PERIOD)
    return sync_exports(DemoData(root / "data"), exports)


def _real_month(root: Path) -> DemoData:
    if not REAL_MONTH.is_dir():
        pytest.skip(f"real AWS sample exports not found at {REAL_MONTH}")
    return sync_exports(DemoData(root / "data"), REAL_MONTH)


def _sample(*, months: int, scale: str) -> tuple[str, ...]:
    return ("--format", "cur2", "--months", str(months), "--seed", "11", "--scale", scale,
            "--end-month", "2025-06")  # fmt: skip


def _write_credits_month(exports: Path, template: date, period: date) -> None:
    """Deliver ``period`` into the generated export as AWS would: a Parquet file with the same
    columns as ``template``'s and its manifest, holding the ``CREDITS`` lines only."""
    source = exports / EXPORT / "data" / f"BILLING_PERIOD={template:%Y-%m}"
    table = pq.read_table(source / f"{EXPORT}-00001.snappy.parquet")
    base = table.slice(0, 1).to_pylist()[0]
    end = datetime(period.year + period.month // 12, period.month % 12 + 1, 1)
    rows = []
    for n, (day, kind, tags, cost) in enumerate(CREDITS):
        start = datetime(period.year, period.month, day)
        row = {column: None if column.startswith(("reservation_", "savings_plan_")) else value
               for column, value in base.items()}  # fmt: skip
        row.update(
            identity_line_item_id=f"credit-{n}",
            identity_time_interval=f"{start:%Y-%m-%dT%H:%M:%SZ}/{end:%Y-%m-%dT%H:%M:%SZ}",
            bill_billing_period_start_date=datetime(period.year, period.month, 1),
            bill_billing_period_end_date=end,
            line_item_line_item_type=kind,
            line_item_usage_start_date=start,
            line_item_usage_end_date=start + timedelta(days=1),
            line_item_usage_amount=0.0,
            line_item_resource_id="",
            line_item_unblended_cost=Decimal(cost),
            line_item_blended_cost=Decimal(cost),
            pricing_public_on_demand_cost=Decimal(cost),
            resource_tags=list(tags.items()),
        )
        rows.append(row)
    partition = f"BILLING_PERIOD={period:%Y-%m}"
    name = f"{EXPORT}-00001.snappy.parquet"
    (exports / EXPORT / "data" / partition).mkdir(parents=True)
    pq.write_table(
        pa.Table.from_pylist(rows, schema=table.schema),
        exports / EXPORT / "data" / partition / name,
    )
    template_manifest = exports / EXPORT / "metadata" / f"BILLING_PERIOD={template:%Y-%m}"
    manifest = json.loads((template_manifest / f"{EXPORT}-Manifest.json").read_text())
    key = f"{EXPORT}/data/{partition}/{name}"
    manifest.update(
        billingPeriod={"start": f"{period:%Y-%m-%d}T00:00:00.000Z",
                       "end": f"{end:%Y-%m-%d}T00:00:00.000Z"},
        dataFiles=[key], reportKeys=[key], rowCount=len(rows), executionId=f"credits-{period:%Y%m}",
    )  # fmt: skip
    (exports / EXPORT / "metadata" / partition).mkdir(parents=True)
    (exports / EXPORT / "metadata" / partition / f"{EXPORT}-Manifest.json").write_text(
        json.dumps(manifest)
    )


BUILDERS: dict[str, Callable[[Path], DemoData]] = {
    "one_month": _one_month,
    "owner_without_spend": _owner_without_spend,
    "credits_only_month": _credits_only_month,
    "real_month": _real_month,
}


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], DemoData]:
    """Build a shape on first use, once per module (a shape that failed to build is not built
    again by the next test: it fails the same way at once)."""
    built: dict[str, DemoData | BaseException] = {}

    def get(shape: str) -> DemoData:
        if shape not in built:
            try:
                built[shape] = BUILDERS[shape](tmp_path_factory.mktemp(shape))
            except (Exception, pytest.fail.Exception, pytest.skip.Exception) as exc:
                built[shape] = exc
        found = built[shape]
        if isinstance(found, BaseException):
            raise found
        return found

    return get


def _open(data: DemoData, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AppTest:
    for name, value in data.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("COSTLENS_STATE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    return AppTest.from_file(str(APP_FILE), default_timeout=60).run()


def _clean(at: AppTest, where: str) -> None:
    """No exception and no error box (a caught one says "Something went wrong on this page")."""
    assert not at.exception, (where, [e.value for e in at.exception])
    assert not at.error, (where, [e.value for e in at.error])
    assert at.title and at.title[0].value, where


def _listed_owners(data: DemoData) -> list[str]:
    """Who the Owners page must offer: every owner with allocations, and every owner with a
    budget in owners.yaml (read here from the files, not from the snapshot)."""
    config = yaml.safe_load(data.owners.read_text())
    budgeted = [o["id"] for o in config["owners"] if o.get("monthly_budget") is not None]
    return sorted(set(warehouse_owners(data)) | set(budgeted))


def _owner_page(at: AppTest, owner: str) -> AppTest:
    at.switch_page("app_pages/owners.py").run()
    return _choose_owner(at, owner)


def _choose_owner(at: AppTest, owner: str) -> AppTest:
    """On the Owners page: choose ``owner`` and check the page that renders."""
    at.selectbox(key="owner").set_value(owner).run()
    assert at.selectbox(key="owner").value == owner
    _clean(at, f"owners page for {owner}")
    return at


# --- every page, every owner, every shape ------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_every_page_renders_for_every_owner(
    shape: str,
    shapes: Callable[[str], DemoData],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    data = shapes(shape)
    at = _open(data, monkeypatch, tmp_path)
    for page in PAGES:
        at.switch_page(page).run()
        _clean(at, page)
    owners = _listed_owners(data)
    at.switch_page("app_pages/owners.py").run()
    assert len(at.selectbox(key="owner").options) == len(owners)
    for owner in owners:  # only the Owners page has an owner to choose
        _assert_table_matches_the_warehouse(_choose_owner(at, owner), data, owner)


# --- what renders is right ---------------------------------------------------------------------

TABLE_COLUMNS = ("month_to_date", "same_days_last_month", "last_month", "delta")


def _table(at: AppTest) -> dict[str, dict[str, str]]:
    """The Owners page's microservices table: {microservice: {column: dollars}}; {} when the
    page says the owner has no spend this month or last."""
    frames = [d.value for d in at.dataframe if "same_days_last_month" in d.value.columns]
    if not frames:
        assert f"No spend by {at.selectbox(key='owner').value} this month or last month." in [
            i.value for i in at.info
        ]
        return {}
    (frame,) = frames
    assert list(frame.columns) == ["microservice", *TABLE_COLUMNS]
    return {
        str(row["microservice"]): {c: dollars(Decimal(repr(row[c]))) for c in TABLE_COLUMNS}
        for _, row in frame.iterrows()
    }


def _amount(shown: str) -> Decimal:
    return Decimal(shown.replace("$", "").replace(",", ""))


def _assert_table_matches_the_warehouse(at: AppTest, data: DemoData, owner: str) -> None:
    """Each column of the microservices table adds up to the owner's exact spend in that window
    (each row rounded to the cent: within half a cent a row), its delta is its first two."""
    _, last = warehouse_dates(data)
    month_start, prev_start, prev_same_day = month_to_date_windows(last)
    last_month_end = month_start - timedelta(days=1)
    windows = {
        "month_to_date": (month_start, last),
        "same_days_last_month": (prev_start, prev_same_day),
        "last_month": (last_month_end.replace(day=1), last_month_end),
    }
    table = _table(at)
    for column, (start, end) in windows.items():
        shown = sum((_amount(r[column]) for r in table.values()), Decimal(0))
        exact = warehouse_spend(data, start, end, owner=owner)
        assert abs(shown - exact) <= Decimal("0.005") * len(table), (owner, column, shown, exact)
    for name, row in table.items():
        delta = _amount(row["month_to_date"]) - _amount(row["same_days_last_month"])
        assert abs(_amount(row["delta"]) - delta) <= Decimal("0.01"), (owner, name)


def test_a_first_month_compares_every_microservice_with_zero(
    shapes: Callable[[str], DemoData], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = shapes("one_month")
    assert warehouse_dates(data) == (date(2025, 6, 1), date(2025, 6, 30))
    at = _open(data, monkeypatch, tmp_path)
    for owner in ("payments", "unallocated"):
        table = _table(_owner_page(at, owner))
        assert table, owner
        assert {r["same_days_last_month"] for r in table.values()} == {"$0.00"}
        assert {r["last_month"] for r in table.values()} == {"$0.00"}
        assert all(r["delta"] == r["month_to_date"] for r in table.values())


def test_an_owner_without_spend_is_listed_at_zero(
    shapes: Callable[[str], DemoData], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = shapes("owner_without_spend")
    assert "ghost-team" not in warehouse_owners(data)
    at = _owner_page(_open(data, monkeypatch, tmp_path), "ghost-team")
    metrics = {m.label: m.value for m in at.metric}
    # Budgets are amortized; the chosen cost type (unblended) is shown beside them.
    assert metrics["Monthly budget (amortized)"] == "$5,000.00"
    assert metrics["Month to date (amortized)"] == "$0.00"
    assert metrics["Projected month end (amortized)"] == "$0.00"
    assert metrics["Month to date (unblended)"] == "$0.00"
    assert metrics["Status"] == "On track"
    assert _table(at) == {}
    assert "No spend by ghost-team from 01 May 2025 to 30 Jun 2025." in [i.value for i in at.info]
    assert [s.value for s in at.success] == ["No open anomalies for this owner."]


def test_a_month_of_credits_only_shows_its_negative_month_to_date(
    shapes: Callable[[str], DemoData], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = shapes("credits_only_month")
    _, last = warehouse_dates(data)
    assert last == date(2025, 7, 3)
    july = warehouse_spend(data, CREDITS_PERIOD, last)
    june = warehouse_spend(data, date(2025, 6, 1), date(2025, 6, 3))
    assert july == CREDITS_TOTAL
    at = _open(data, monkeypatch, tmp_path)
    at.switch_page("app_pages/overview.py").run()
    mtd = at.metric[0]
    assert (mtd.label, mtd.value, mtd.delta) == (
        "Month-to-date spend",
        "-$152.36",
        dollars(CREDITS_TOTAL - june),
    )
    # Checkout's negative usage line is its cart's whole July, exactly.
    cart = _table(_owner_page(at, "checkout"))["cart"]
    assert cart["month_to_date"] == "-$12.35"


MAY_1, MAY_31, JUNE_1, JUNE_30 = (
    date(2025, 5, 1),
    date(2025, 5, 31),
    date(2025, 6, 1),
    date(2025, 6, 30),
)


def test_a_window_without_spend_is_an_exact_zero(shapes: Callable[[str], DemoData]) -> None:
    """``queries.spend`` with no rows keeps Decimal (object) columns, so page arithmetic on it
    stays Decimal: before, the empty frame's columns were float64 and a float 0 met a Decimal."""
    from app_pages import _shared as ui
    from costlens import queries

    data = shapes("one_month")
    with queries.open_snapshot(data.data_dir) as snap:
        owner = {"owner": ["payments"]}
        may = queries.spend(snap, by=("microservice",), where=owner, start=MAY_1, end=MAY_31)
        june = queries.spend(snap, by=("microservice",), where=owner, start=JUNE_1, end=JUNE_30)
    assert may.empty and list(may.columns) == ["period", "microservice", "cost"]
    assert {str(dtype) for dtype in may.dtypes} == {"object"}
    assert ui.total(may) == Decimal(0) and isinstance(ui.total(may), Decimal)
    table = ui.side_by_side(
        "microservice",
        {"june": ui.sums_by(june, "microservice"), "may": ui.sums_by(may, "microservice")},
    )
    assert len(table) >= 1 and set(table["may"]) == {Decimal(0)}
    assert all(isinstance(v, Decimal) for v in table["june"])
    assert sum(table["june"], Decimal(0)) == warehouse_spend(
        data, JUNE_1, JUNE_30, owner="payments"
    )
