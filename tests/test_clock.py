"""No code reads the calendar except ``costlens.clock``, and no test reaches it.

Two guards, chosen over running the suite under two fixed dates (which doubles its time and
still misses a date neither run happens to hit):
- statically, below: a local date or time (``date.today``, ``datetime.now`` without a time
  zone, ``datetime.utcnow``, ``time.time()``, ``time.localtime()``) appears nowhere in the
  product's code but ``costlens/clock.py``; timestamps that record when something happened are
  taken as ``now(UTC)`` and are fine;
- at run time, ``conftest.py``: every test runs with ``COSTLENS_TODAY`` pinned, and reaching
  ``costlens.clock.wall_clock_today`` raises ``WallClockReached``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from conftest import PINNED_TODAY
from helpers import WallClockReached

from costlens.config import load_settings

REPO = Path(__file__).resolve().parent.parent
PRODUCT = ("costlens", "ingest", "reports", "app_pages", "app.py", "benchmarks")
CLOCK = REPO / "costlens" / "clock.py"
_DATE_TYPES = {"date", "datetime"}


def _calendar_reads(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, expression) of every read of the local calendar in ``tree``."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        owner = node.value
        owner_name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
        spelled = f"{owner_name}.{node.attr}"
        if (owner_name in _DATE_TYPES and node.attr in {"today", "utcnow"}) or (
            owner_name == "time" and node.attr in {"time", "localtime", "ctime"}
        ):
            found.append((node.lineno, spelled))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "now"
            and not node.args
            and not node.keywords
        ):
            found.append((node.lineno, "now() without a time zone"))
    return found


def _sources() -> list[Path]:
    files = []
    for name in PRODUCT:
        path = REPO / name
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return [f for f in files if f != CLOCK]


def test_the_detector_sees_every_spelling() -> None:
    code = (
        "import datetime as dt, time\nfrom datetime import date, datetime\n"
        # (spelled in pieces, so that a grep for clock reads does not find this test itself)
        "a = date.today"
        "()\nb = dt.datetime.now"
        "()\nc = datetime.utcnow"
        "()\n"
        "d = time.time()\ne = field(default_factory=dt.date.today)\n"
        "f = datetime.now"
        "(UTC)\ng = time.perf_counter()\n"
    )
    assert [line for line, _ in _calendar_reads(ast.parse(code))] == [3, 5, 6, 7, 4]


def test_nothing_but_the_clock_module_reads_the_calendar() -> None:
    sources = _sources()
    assert len(sources) > 50, "the walk found the product's modules"
    offenders = [
        f"{path.relative_to(REPO)}:{line}: {spelled}"
        for path in sources
        for line, spelled in _calendar_reads(ast.parse(path.read_text(), str(path)))
    ]
    assert not offenders, (
        "read the date through Settings.current_date() (costlens.clock) or take a UTC "
        f"timestamp with now(UTC): {offenders}"
    )


def test_settings_pin_today_and_the_suite_refuses_the_wall_clock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_settings(None).current_date() == date.fromisoformat(PINNED_TODAY)
    monkeypatch.setenv("COSTLENS_TODAY", "2027-02-28")
    assert load_settings(None).current_date() == date(2027, 2, 28)
    monkeypatch.delenv("COSTLENS_TODAY")
    with pytest.raises(WallClockReached):
        load_settings(None).current_date()


def test_a_bad_pinned_date_is_one_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from costlens.errors import ConfigError

    monkeypatch.setenv("COSTLENS_TODAY", "2027-13-01")
    with pytest.raises(ConfigError) as info:
        load_settings(None)
    assert info.value.where == "environment variable COSTLENS_TODAY"


def test_generate_sample_defaults_to_the_last_complete_month_of_today(tmp_path: Path) -> None:
    """In a subprocess: the pinned date reaches the CLI through the environment."""
    out = subprocess.run(
        [sys.executable, "-m", "costlens", "generate-sample", str(tmp_path / "s"),
         "--months", "2", "--scale", "0.002", "--json"],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    )  # fmt: skip
    assert '"periods": [\n    "2025-05-01",\n    "2025-06-01"\n  ]' in out.stdout
