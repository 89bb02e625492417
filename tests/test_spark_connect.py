"""``sc://``: the attribution through a real Spark Connect server on loopback.

A process holding a local Spark session cannot open a remote one, so this module is apart from
``test_spark_attribution`` (whose helpers it uses): pytest-xdist runs it in its own worker, or
after that module's session has stopped.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from attribution_fixtures import insert, owners

pyspark = pytest.importorskip(
    "pyspark", reason="PySpark is not installed (make test installs it: pip install '.[spark]')"
)

from test_spark_attribution import _assert_same, _every_kind_lines, _on_spark  # noqa: E402

from costlens.attribution import attribute, parse_rules  # noqa: E402
from costlens.engines.spark import spark_session  # noqa: E402
from costlens.errors import EngineError  # noqa: E402
from costlens.warehouse import open_warehouse  # noqa: E402


@pytest.fixture(scope="module")
def connect_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Spark Connect server (PySpark's own, local mode) on 127.0.0.1 and a free port."""
    import socket
    import time

    from helpers import free_port

    home = Path(pyspark.__file__).parent
    port = free_port()
    log = tmp_path_factory.mktemp("connect") / "server.log"
    argv = [str(home / "bin" / "spark-submit"), "--class",
            "org.apache.spark.sql.connect.service.SparkConnectServer", "--master", "local[2]",
            "--conf", f"spark.connect.grpc.binding.port={port}",
            "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
            "--conf", "spark.ui.enabled=false", "--conf", "spark.driver.memory=1g",
            "spark-internal"]  # fmt: skip
    with log.open("wb") as out:
        server = subprocess.Popen(argv, env={**os.environ, "SPARK_HOME": str(home)}, stdout=out,
                                  stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and server.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail(f"the Spark Connect server did not start: {log.read_text()[-2000:]}")
        yield f"sc://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


CONNECT_RULES = """
rules:
  - {name: app, match: {tag: app}, set: {microservice: "{tag:app}"}}
  - {name: sandbox, match: {account_name: {glob: "*-sand[a-z]ox"}}, set: {owner: checkout}}
"""
"""Two rules and no split: the splits' arithmetic is checked on the local session; here the
parameters and the cached stages through Connect (fewer stages, a shorter test)."""


def test_a_spark_connect_server_gives_the_same_allocations(
    connect_url: str, data_dir: Path, tmp_path: Path
) -> None:
    # The sc:// path end to end, on a real Spark Connect server on loopback: the parameters,
    # the cached stages and the results are the same as on the local session.
    rules = parse_rules(CONNECT_RULES, "rules.yaml", owners())
    remote = spark_session(connect_url)
    assert type(remote).__module__ == "pyspark.sql.connect.session"
    assert remote.conf.get("spark.sql.session.timeZone") == "UTC"
    with open_warehouse(data_dir) as wh:
        insert(wh.con, _every_kind_lines()[:40])
        attribute(wh, rules)
        _on_spark(remote, wh.con, tmp_path / "spark")
        rows = _assert_same(remote, wh.con, rules)
        keyed = wh.con.execute(
            "SELECT count(DISTINCT (CAST(usage_start AS DATE), line_key)) FROM line_items"
        ).fetchone()
    assert (rows,) == keyed  # no split: a row per day and line key


def test_a_bad_spark_connect_url_is_one_error_line() -> None:
    with pytest.raises(EngineError, match="is not a Spark Connect URL"):
        spark_session("http://127.0.0.1:15002")
    with pytest.raises(EngineError, match=r"cannot reach Spark Connect at 127\.0\.0\.1:9"):
        spark_session("sc://127.0.0.1:9")
    with pytest.raises(EngineError, match="names no host and port"):
        spark_session("sc://127.0.0.1:port")
