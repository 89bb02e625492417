"""The errors a user meets at the command line: one line naming the path, the reason and the fix,
never a traceback. (The tests run as root, whom chmod does not stop: an unusable data folder is a
file, a path under a file, a lock that is a folder or a path under /proc.)"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from costlens.cli import app
from costlens.errors import ConfigError, WarehouseError

REPO = Path(__file__).resolve().parent.parent
COSTLENS = [sys.executable, "-m", "costlens"]
DATA_DIR_FIX = "exists, is a folder and is writable by this user; set data_dir or COSTLENS_DATA_DIR"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``costlens ARGS`` in a child process with ``env`` added to this one's environment."""
    full_env = {
        **os.environ,
        "COSTLENS_RULES": str(REPO / "data" / "rules.yaml"),
        "COSTLENS_OWNERS": str(REPO / "data" / "owners.yaml"),
        **(env or {}),
    }
    return subprocess.run(
        [*COSTLENS, *args], capture_output=True, text=True, env=full_env, timeout=60
    )


def one_error_line(out: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a failed run (asserting there is one and no traceback)."""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert lines[0].startswith("costlens: error: "), lines[0]
    return lines[0]


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "not-a-folder"
    path.write_text("x")
    return path


@pytest.mark.parametrize("command", ["refresh", "sync", "attribute"])
def test_a_data_dir_that_is_a_file_is_one_line(command: str, a_file: Path) -> None:
    out = run(command, env={"COSTLENS_DATA_DIR": str(a_file)})
    assert out.returncode == 1
    assert one_error_line(out) == (
        f"costlens: error: {a_file}: cannot create the data folder (File exists). Fix: check that "
        f"the data directory {a_file} {DATA_DIR_FIX}"
    )


@pytest.mark.parametrize(
    ("data_dir", "reason"),
    [("not-a-folder/sub", "Not a directory"), ("/proc/costlens-no-such", "No such file")],
)
def test_a_data_dir_that_cannot_be_made_is_one_line(
    data_dir: str, reason: str, a_file: Path
) -> None:
    path = a_file.parent / data_dir  # (an absolute data_dir stays as it is)
    out = run("sync", env={"COSTLENS_DATA_DIR": str(path)})
    assert out.returncode == 1
    line = one_error_line(out)
    assert line.startswith(f"costlens: error: {path}: cannot create the data folder ({reason}")
    assert line.endswith(f"Fix: check that the data directory {path} {DATA_DIR_FIX}")


def test_a_lock_that_cannot_be_opened_names_the_lock(tmp_path: Path) -> None:
    """What a folder the user cannot write gives (PermissionError on warehouse.lock)."""
    data_dir = tmp_path / "data"
    (data_dir / "warehouse.lock").mkdir(parents=True)
    (data_dir / "sync.lock").mkdir()
    out = run("refresh", env={"COSTLENS_DATA_DIR": str(data_dir)})
    assert out.returncode == 1
    assert one_error_line(out) == (
        f"costlens: error: {data_dir}/warehouse.lock: cannot open the warehouse lock (Is a "
        f"directory). Fix: check that the data directory {data_dir} {DATA_DIR_FIX}"
    )
    out = run("sync", env={"COSTLENS_DATA_DIR": str(data_dir)})
    assert out.returncode == 1
    assert one_error_line(out).startswith(
        f"costlens: error: {data_dir}/sync.lock: cannot open the sync lock (Is a directory)"
    )


def test_demo_dir_that_cannot_be_made_is_one_line(a_file: Path) -> None:
    out = run("demo", "--dir", str(a_file / "demo"), "--no-serve")
    assert out.returncode == 1
    assert one_error_line(out) == (
        f"costlens: error: {a_file}/demo: cannot create the demo folder (Not a directory). "
        "Fix: pass --dir a folder this user can create and write"
    )


def test_unusable_sqlite_state_database_talks_about_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SQLite state database has no server or credentials: the fix names its file and folder."""
    state_db = tmp_path / "state.db"
    state_db.mkdir()  # what SQLite cannot open, even for root
    monkeypatch.setenv("COSTLENS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COSTLENS_STATE_URL", f"sqlite:///{state_db}")
    monkeypatch.setenv("COSTLENS_RULES", str(REPO / "data" / "rules.yaml"))
    monkeypatch.setenv("COSTLENS_OWNERS", str(REPO / "data" / "owners.yaml"))
    result = CliRunner().invoke(app, ["attribute"])
    assert isinstance(result.exception, ConfigError)
    assert result.exception.fix == (
        f"check that {state_db} is an SQLite database (or absent) and that its folder {tmp_path} "
        "exists, is a folder and is writable by this user, or point it at a writable place; "
        "set data_dir or COSTLENS_DATA_DIR (or state_url)"
    )
    assert "running" not in str(result.exception)


def test_open_warehouse_wraps_the_os_error(a_file: Path) -> None:
    from costlens.warehouse import open_warehouse

    with pytest.raises(WarehouseError) as info:
        open_warehouse(a_file / "data")
    assert info.value.where == f"{a_file}/data"
    assert isinstance(info.value.__cause__, NotADirectoryError)


def test_any_other_os_error_is_one_line_too(a_file: Path) -> None:
    """The CLI's safety net: an OSError no library code expected still gives no traceback."""
    out = run("generate-sample", str(a_file / "out"))
    assert out.returncode == 1
    assert one_error_line(out).startswith(f"costlens: error: {a_file}/out: Not a directory. Fix: ")


def test_an_os_error_about_no_file_gets_no_path_fix(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A refused connection is not a data-folder problem: no advice about paths."""
    import costlens.commands.analytics as analytics

    def refused(*args: object, **kwargs: object) -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(analytics, "run_refresh", refused)
    status, _, err = run_main(["refresh"], monkeypatch, capsys)
    assert (status, err) == (
        1,
        "costlens: error: ConnectionRefusedError: [Errno 111] Connection refused. Fix: run "
        "again with --debug for details\n",
    )


def run_main(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """``costlens.cli.main`` in this process: (exit status, stdout, stderr)."""
    from costlens.cli import main

    monkeypatch.setattr(sys, "argv", ["costlens", *args])
    with pytest.raises(SystemExit) as info:
        main()
    out = capsys.readouterr()
    return int(info.value.code or 0), out.out, out.err


def test_error_text_in_brackets_is_printed_verbatim(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``[[sources]]`` is not Rich markup (it printed as ``[]``)."""
    monkeypatch.setenv("COSTLENS_DATA_DIR", str(tmp_path / "data"))
    status, _, err = run_main(["sync"], monkeypatch, capsys)
    assert status == 1
    assert err == (
        "costlens: error: configuration: no sources configured. Fix: add a [[sources]] table to "
        "costlens.toml, or pass a path or s3:// URL\n"
    )


@pytest.mark.parametrize("regex", ["[bold]x(", "[/x]("])
def test_a_rule_regex_that_looks_like_markup_is_quoted_as_written(
    regex: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``[bold]x(`` was shown as ``x(``; ``[/x](`` crashed the printer with a MarkupError."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        f'version: 1\nrules:\n  - name: bad\n    match: {{resource: {{regex: "{regex}"}}}}\n'
        "    set: {owner: platform}\n"
    )
    monkeypatch.setenv("COSTLENS_RULES", str(rules))
    monkeypatch.setenv("COSTLENS_OWNERS", str(REPO / "data" / "owners.yaml"))
    status, _, err = run_main(["rules", "check"], monkeypatch, capsys)
    assert status == 1
    assert err.startswith(
        f"costlens: error: {rules}:4: invalid regular expression '{regex}' (Invalid Input Error"
    ), err
    assert len(err.splitlines()) == 1


def test_rules_check_sql_json_is_one_json_document(monkeypatch: pytest.MonkeyPatch) -> None:
    """With --json the compiled SQL is the object's ``sql`` field, the same text --sql prints."""
    import json

    monkeypatch.setenv("COSTLENS_RULES", str(REPO / "data" / "rules.yaml"))
    monkeypatch.setenv("COSTLENS_OWNERS", str(REPO / "data" / "owners.yaml"))
    runner = CliRunner()
    as_json = runner.invoke(app, ["rules", "check", "--sql", "--json"])
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.stdout)  # the whole output: nothing before or after
    plain = runner.invoke(app, ["rules", "check", "--sql"])
    assert plain.exit_code == 0, plain.output
    summary, printed_sql = plain.stdout.split(f"version {document['version']}\n", 1)
    assert summary.startswith("ok: ")
    assert document["sql"] + "\n" == printed_sql
    assert document["sql"].startswith("WITH ") and document["rules"] > 0
    without_sql = json.loads(runner.invoke(app, ["rules", "check", "--json"]).stdout)
    assert "sql" not in without_sql and without_sql == {
        k: v for k, v in document.items() if k != "sql"
    }


@pytest.fixture
def two_months(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A warehouse with line items in 2024-01 and 2024-03 (none in February)."""
    from datetime import date

    from attribution_fixtures import OWNERS_YAML, insert, line

    from costlens.warehouse import open_warehouse

    data_dir = tmp_path / "data"
    (tmp_path / "rules.yaml").write_text(
        'rules:\n  - name: app\n    match: {tag: app}\n    set: {microservice: "{tag:app}"}\n'
    )
    (tmp_path / "owners.yaml").write_text(OWNERS_YAML)
    monkeypatch.setenv("COSTLENS_DATA_DIR", str(data_dir))
    monkeypatch.setenv("COSTLENS_RULES", str(tmp_path / "rules.yaml"))
    monkeypatch.setenv("COSTLENS_OWNERS", str(tmp_path / "owners.yaml"))
    with open_warehouse(data_dir) as wh:
        insert(wh.con, [line("r-1", "1.10", period=date(2024, 1, 1))])
        insert(wh.con, [line("r-2", "2.20", period=date(2024, 3, 1))])
    return data_dir


def test_attribute_a_period_without_line_items_is_an_error(
    two_months: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mistyped month used to 'attribute 0 period(s)' and exit 0."""
    from costlens.warehouse import open_warehouse

    status, out, err = run_main(["attribute", "--period", "2024-02"], monkeypatch, capsys)
    assert (status, out) == (1, "")
    assert err == (
        "costlens: error: --period: no line items in billing period 2024-02. "
        "Fix: use one of 2024-01, 2024-03\n"
    )
    with open_warehouse(two_months) as wh:  # refused before anything was written
        tables = {r[0] for r in wh.con.execute("SHOW TABLES").fetchall()}
    assert "allocations" not in tables
    status, out, _ = run_main(["attribute", "--period", "2024-03", "--json"], monkeypatch, capsys)
    assert status == 0 and '"2024-03-01"' in out


def test_attribute_everything_on_an_empty_warehouse_is_fine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COSTLENS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COSTLENS_RULES", str(REPO / "data" / "rules.yaml"))
    monkeypatch.setenv("COSTLENS_OWNERS", str(REPO / "data" / "owners.yaml"))
    status, _, err = run_main(["attribute", "--json"], monkeypatch, capsys)
    assert (status, err) == (0, "")
    status, _, err = run_main(["attribute", "--period", "2024-01"], monkeypatch, capsys)
    assert status == 1
    assert err.startswith("costlens: error: --period: no line items in billing period 2024-01. ")
    assert err.endswith(
        "Fix: the warehouse has no line items yet: run `costlens sync` (or `costlens ingest`)\n"
    )


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(port: int) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as r:
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _children(pid: int) -> list[int]:
    """The live processes whose parent is ``pid`` (from /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


@pytest.mark.slow
def test_sigterm_to_serve_stops_the_dashboard(tmp_path: Path) -> None:
    """A supervisor's SIGTERM to ``costlens serve`` stops Streamlit and frees the port (it used
    to kill only the wrapper, leaving Streamlit running under PID 1)."""
    import contextlib
    import signal
    import time

    port = _free_port()
    proc = subprocess.Popen(
        [*COSTLENS, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, "COSTLENS_DATA_DIR": str(tmp_path / "data")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    children: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while not _healthy(port):
            assert proc.poll() is None, "serve exited before the dashboard answered"
            assert time.monotonic() < deadline, "the dashboard never answered"
            time.sleep(0.2)
        children = _children(proc.pid)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
        assert not _healthy(port)
        assert [pid for pid in children if Path(f"/proc/{pid}").exists()] == []
    finally:
        for pid in [proc.pid, *children] if proc.poll() is None else children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait()


@pytest.mark.slow
def test_output_to_a_log_keeps_every_line_whole(tmp_path: Path) -> None:
    """Piped (cron), the summaries are not hard-wrapped at 80 columns and the ingest lines keep
    the whole source name (the table cut it to 's3://my-billi…')."""
    from costlens.sample import generate_sample

    exports = tmp_path / "a-rather-long-folder-name-for-the-billing-exports" / "of-the-company"
    generate_sample(
        exports, format="cur2", months=1, seed=3, scale=0.002, end_month=date(2025, 2, 1)
    )
    env = {"COSTLENS_DATA_DIR": str(tmp_path / "data")}
    out = run("sync", str(exports), env=env)
    assert out.returncode == 0, out.stderr
    ingest_line, snapshot_line = out.stdout.splitlines()
    assert ingest_line.startswith("ingest: 1 deliveries loaded; attribute: ")
    assert ingest_line.endswith("unallocated")
    assert snapshot_line.startswith(f"snapshot {tmp_path}/data/serving.duckdb: ")
    assert " 10 budgets; built in " in snapshot_line and len(snapshot_line) > 120
    again = run("ingest", str(exports), env=env)
    assert again.returncode == 0, again.stderr
    [line] = again.stdout.splitlines()
    assert line.startswith(f"ingest: {exports} costlens-cur2 ")
    assert line.endswith(", unchanged")


def test_download_progress_in_a_log_reads_in_mib(capsys: pytest.CaptureFixture[str]) -> None:
    from costlens.progress import terminal_progress

    progress = terminal_progress()  # stderr is captured: not a terminal
    with progress.task("download cur/part-0.parquet", total=5_780_160) as task:
        task.advance(5_780_160)
    with progress.task("load cur2 2024-03", total=1_300_000) as task:
        task.advance(1_300_000)
    assert capsys.readouterr().err == (
        "download cur/part-0.parquet: 5.5/5.5 MiB done\n"
        "load cur2 2024-03: 1,300,000/1,300,000 done\n"
    )


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["sync", "--jsn"],
            "costlens: error: No such option: --jsn (Possible options: --json); "
            "see `costlens sync --help`",
        ),
        (
            ["refrsh"],
            "costlens: error: No such command 'refrsh'. Did you mean 'refresh'?; "
            "see `costlens --help`",
        ),
        (["nosuch"], "costlens: error: No such command 'nosuch'; see `costlens --help`"),
    ],
)
def test_a_usage_error_is_one_line_with_exit_2(
    args: list[str],
    line: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Not typer's five-line boxed panel: the README promises one line."""
    status, out, err = run_main(args, monkeypatch, capsys)
    assert (status, out, err) == (2, "", line + "\n")


def test_help_and_no_arguments_keep_their_exit_codes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run_main(["--help"], monkeypatch, capsys)
    assert status == 0 and "Usage: costlens [OPTIONS] COMMAND" in out
    status, out, err = run_main([], monkeypatch, capsys)
    assert status == 2 and "Usage: costlens [OPTIONS] COMMAND" in out + err
    assert "costlens: error" not in out + err
