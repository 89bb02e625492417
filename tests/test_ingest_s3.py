"""Ingest from S3: a real moto server on 127.0.0.1, boto3 pointed at it by AWS_ENDPOINT_URL_S3.

The bucket holds exports in AWS's layouts (CUR 2.0 Data Exports, legacy CUR CREATE_NEW and
OVERWRITE, legacy Parquet with its status file).
"""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from moto.server import ThreadedMotoServer
from test_ingest_support import Line, total, write_cur1_report, write_cur2_export

from costlens.config import Settings, SourceSettings
from costlens.errors import IngestError
from ingest import ingest
from ingest.hooks import KILL_ENV

pytestmark = pytest.mark.s3

NOV = date(2024, 11, 1)
_buckets = itertools.count()


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"billing-{next(_buckets)}"
    s3.create_bucket(Bucket=name)
    return name


def _upload(s3: Any, root: Path, bucket: str, prefix: str = "exports") -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            s3.put_object(
                Bucket=bucket,
                Key=f"{prefix}/{path.relative_to(root).as_posix()}",
                Body=path.read_bytes(),
            )


def _settings(data_dir: Path, bucket: str, export: str | None = None) -> Settings:
    src = SourceSettings(name="cur", kind="s3", bucket=bucket, prefix="exports", export=export)
    return Settings(data_dir=data_dir, sources=[src])


def test_cur2_export_new_unchanged_then_restated(
    s3: Any, bucket: str, tmp_path: Path, data_dir: Path
) -> None:
    first = [Line(unblended_cost="1.10"), Line(unblended_cost="2.20")]
    write_cur2_export(tmp_path, "cur2", NOV, first, "exec-1", bucket=bucket)
    _upload(s3, tmp_path, bucket)
    settings = _settings(data_dir, bucket, "cur2")

    [new] = ingest(settings).deliveries
    assert (new.status, new.rows, new.totals["unblended_cost"]) == ("new", 2, Decimal("3.30"))
    staged = data_dir / "staging" / "cur" / "exports" / "cur2" / "data"
    [parquet] = list(staged.rglob("*.parquet"))
    mtime = parquet.stat().st_mtime_ns

    [same] = ingest(settings).deliveries
    assert (same.status, same.delivery_id) == ("unchanged", new.delivery_id)
    assert parquet.stat().st_mtime_ns == mtime  # nothing downloaded again

    restated = [Line(unblended_cost="1.10"), Line(unblended_cost="2.25"), Line("Credit", "-0.35")]
    write_cur2_export(tmp_path, "cur2", NOV, restated, "exec-2", bucket=bucket)
    _upload(s3, tmp_path, bucket)
    [replaced] = ingest(settings).deliveries
    assert replaced.status == "replaced"
    assert replaced.totals["unblended_cost"] == total(restated) == Decimal("3.00")


def test_legacy_create_new_follows_the_newest_assembly(
    s3: Any, bucket: str, tmp_path: Path, data_dir: Path
) -> None:
    settings = _settings(data_dir, bucket)
    write_cur1_report(tmp_path, "cur1", NOV, [Line(unblended_cost="4.00")], "asm-1", bucket=bucket)
    _upload(s3, tmp_path, bucket)
    [first] = ingest(settings).deliveries
    assert (first.status, first.totals["unblended_cost"]) == ("new", Decimal("4.00"))

    newer = [Line(unblended_cost="4.00"), Line(unblended_cost="1.2E-5")]
    write_cur1_report(tmp_path, "cur1", NOV, newer, "asm-2", bucket=bucket)
    _upload(s3, tmp_path, bucket)  # asm-1's files stay in the bucket, as AWS leaves them
    [second] = ingest(settings).deliveries
    assert second.status == "replaced"
    assert (second.rows, second.totals["unblended_cost"]) == (2, Decimal("4.000012"))


def test_legacy_overwrite_report(s3: Any, bucket: str, tmp_path: Path, data_dir: Path) -> None:
    settings = _settings(data_dir, bucket, "ow")
    lines = [Line(unblended_cost="0.5", tags={"user:CostCenter": "cc-9"})]
    write_cur1_report(tmp_path, "ow", NOV, lines, "asm-1", overwrite=True, bucket=bucket)
    _upload(s3, tmp_path, bucket)
    assert [d.status for d in ingest(settings).deliveries] == ["new"]
    more = [*lines, Line("Tax", "0.05")]
    write_cur1_report(tmp_path, "ow", NOV, more, "asm-2", overwrite=True, bucket=bucket)
    _upload(s3, tmp_path, bucket)
    [d] = ingest(settings).deliveries
    assert (d.status, d.rows, d.totals["unblended_cost"]) == ("replaced", 2, Decimal("0.55"))


def test_legacy_parquet_is_skipped_while_updating(
    s3: Any, bucket: str, tmp_path: Path, data_dir: Path
) -> None:
    report = tmp_path / "pq" / "pq" / "year=2024" / "month=11"
    report.mkdir(parents=True)
    table = pa.table(
        {
            "bill_billing_period_start_date": pa.array([datetime(2024, 11, 1)]),
            "line_item_line_item_type": ["Usage"],
            "line_item_unblended_cost": [2.5],
            "line_item_usage_start_date": pa.array([datetime(2024, 11, 1)]),
            "resource_tags_user_cost_center": ["cc-1"],
        }
    )
    pq.write_table(table, report / "pq-00001.snappy.parquet")
    status_dir = tmp_path / "pq" / "cost_and_usage_data_status"
    status_dir.mkdir(parents=True)
    pq.write_table(
        pa.table({"status": ["UPDATING"]}), status_dir / "cost_and_usage_data_status.parquet"
    )
    _upload(s3, tmp_path, bucket)
    assert ingest(_settings(data_dir, bucket)).deliveries == []

    pq.write_table(
        pa.table({"status": ["READY"]}), status_dir / "cost_and_usage_data_status.parquet"
    )
    _upload(s3, tmp_path, bucket)
    [d] = ingest(_settings(data_dir, bucket)).deliveries
    assert (d.format, str(d.billing_period), d.totals["unblended_cost"]) == (
        "cur1-parquet",
        "2024-11-01",
        Decimal("2.5"),
    )


def test_wrong_bucket(s3: Any, data_dir: Path) -> None:
    with pytest.raises(IngestError, match="bucket 'no-such-bucket' does not exist") as err:
        ingest(Settings(data_dir=data_dir), "s3://no-such-bucket/exports")
    assert "Fix:" in str(err.value)


def test_missing_credentials(
    s3: Any, bucket: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(IngestError, match="no AWS credentials found"):
        ingest(Settings(data_dir=data_dir), f"s3://{bucket}/exports")


@pytest.fixture(scope="module")
def checking_endpoint() -> Iterator[str]:
    """A moto server that checks credentials as AWS does (a process of its own: moto reads
    INITIAL_NO_AUTH_ACTION_COUNT when it starts), on a free port of 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            with socket.socket() as conn:
                if conn.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_credentials_aws_does_not_know_are_not_called_a_permission_problem(
    checking_endpoint: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", checking_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIANOTAREALKEY00000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with pytest.raises(IngestError) as err:
        ingest(Settings(data_dir=data_dir), "s3://billing/exports")
    message = str(err.value)
    assert message.startswith(
        "s3://billing/exports: AWS does not accept these credentials (InvalidAccessKeyId: the "
        "access key id is not known to AWS). Fix: use valid credentials"
    ), message
    assert "s3:ListBucket" not in message
    assert not (data_dir / "warehouse.duckdb").exists() or _no_lines(data_dir)


def _no_lines(data_dir: Path) -> bool:
    import duckdb

    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        return con.execute("SELECT COUNT(*) FROM line_items").fetchone() == (0,)


@pytest.mark.slow
def test_download_killed_midway_resumes(
    s3: Any, bucket: str, tmp_path: Path, data_dir: Path
) -> None:
    lines = [Line(unblended_cost="0.01", resource_id=f"i-{n:05d}") for n in range(30000)]
    write_cur2_export(tmp_path, "cur2", NOV, lines, "exec-1", bucket=bucket)
    _upload(s3, tmp_path, bucket)
    env = {**os.environ, "COSTLENS_DATA_DIR": str(data_dir)}
    cmd = [sys.executable, "-m", "costlens", "ingest", f"s3://{bucket}/exports", "--json"]
    killed = subprocess.run(cmd, env={**env, KILL_ENV: "mid-download"}, capture_output=True)
    assert killed.returncode == -9
    assert list((data_dir / "staging").rglob("*.parquet.part"))
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert '"unblended_cost": "300.0000000000"' in done.stdout
    assert not list((data_dir / "staging").rglob("*.part"))


def test_role_arn_is_assumed_before_reading(
    s3: Any,
    bucket: str,
    endpoint: str,
    tmp_path: Path,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", endpoint)
    write_cur2_export(tmp_path, "cur2", NOV, [Line(unblended_cost="0.42")], "e1", bucket=bucket)
    _upload(s3, tmp_path, bucket)
    src = SourceSettings(
        name="cur",
        kind="s3",
        bucket=bucket,
        prefix="exports",
        role_arn="arn:aws:iam::123456789012:role/read-cur",
        region="us-east-1",
    )
    [d] = ingest(Settings(data_dir=data_dir, sources=[src])).deliveries
    assert d.totals["unblended_cost"] == Decimal("0.42")
    from ingest.sources.s3 import make_client

    signer_credentials = make_client(src)._request_signer._credentials
    assert signer_credentials.access_key != "testing"  # the role's temporary keys, not ours
    assert signer_credentials.token
