"""Attribution on Apache Spark: the compiled rules in Spark SQL, run by a Spark session.

The session is the one a ``spark-submit`` started (when there is one), a Spark Connect session
when given an ``sc://`` URL, or a local one on this machine's cores.
Sessions are set to UTC (``usage_date`` is the UTC day, as in DuckDB) and ANSI mode (an overflow
is an error, never a NULL or a wrapped number).

PySpark is optional (``pip install 'costlens[spark]'``); importing this module does not need it,
``spark_session`` says so in one line when it is missing.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from costlens.attribution.compile import compile_attribution
from costlens.attribution.dialects import STAGE_PREFIX, spark_stages
from costlens.attribution.rules import RuleSet
from costlens.errors import EngineError, first_line

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["SESSION_CONF", "drop_stages", "run_attribution", "spark_session"]

SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "true",
}
"""Set on every session costlens uses (a cluster's own session included)."""

_LOCAL_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": str(2 * (os.cpu_count() or 1)),
    "spark.driver.memory": "2g",
}
"""For the local session only: no web UI, few shuffle partitions for a few cores."""

_INSTALL = "pip install 'costlens[spark]' (PySpark; a local session also needs Java 17)"


def _pyspark() -> type[SparkSession]:
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise EngineError("PySpark is not installed", where="Spark", fix=_INSTALL) from None
    return SparkSession


_CONNECT_TIMEOUT = 5.0
"""Seconds to wait for a Spark Connect server's port (its client would retry for minutes)."""


def _reachable(remote: str) -> None:
    """Fail in one line when nothing listens at the ``sc://`` URL ``remote``."""
    parts = urlsplit(remote)
    try:
        host, port = parts.hostname, parts.port or 15002
    except ValueError:  # a port that is not a number
        host, port = None, 0
    if not host:
        raise EngineError(
            f"{remote!r} names no host and port",
            where="the Spark Connect URL",
            fix="write sc://HOST:PORT (Spark Connect listens on 15002 by default)",
        )
    try:
        socket.create_connection((host, port), timeout=_CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise EngineError(
            f"cannot reach Spark Connect at {host}:{port}: {exc.strerror or exc}",
            where="the Spark Connect URL",
            fix="start the Spark Connect server (sbin/start-connect-server.sh) or correct the URL",
        ) from None


def _local(builder: SparkSession.Builder) -> SparkSession:
    try:
        session = builder.appName("costlens").getOrCreate()
    except Exception as exc:  # a missing java: a bare Exception
        raise EngineError(
            f"cannot start a local Spark session: {first_line(exc)}",
            where="Spark",
            fix="install Java 17 (Debian: openjdk-17-jre-headless) or set JAVA_HOME",
        ) from None
    # Many rules make methods beyond the JVM's 64 KB: Spark then runs them interpreted, logging
    # pages of "failed to compile" per query. Its failures still raise, with their message.
    session.sparkContext.setLogLevel("FATAL")
    return session


def spark_session(remote: str | None = None) -> SparkSession:
    """The Spark session attribution runs on: Spark Connect at ``remote`` (``sc://host:port``),
    else the active session (``spark-submit``), else a local one."""
    session_class = _pyspark()
    active = session_class.getActiveSession()
    if remote is not None:
        if not remote.startswith("sc://"):
            raise EngineError(
                f"{remote!r} is not a Spark Connect URL",
                where="the Spark Connect URL",
                fix="write sc://HOST:PORT (Spark Connect listens on 15002 by default)",
            )
        if active is not None and not type(active).__module__.startswith("pyspark.sql.connect"):
            raise EngineError(
                "this process already runs a local Spark session, and PySpark cannot open a "
                "Spark Connect session beside it",
                where="the Spark Connect URL",
                fix="use the running session (give no URL under spark-submit) or stop it first",
            )
        _reachable(remote)
        try:
            session = session_class.builder.remote(remote).getOrCreate()
            session.sql("SELECT 1").collect()  # the builder connects lazily
        except Exception as exc:  # grpc and pyspark raise many kinds
            raise EngineError(
                f"cannot reach Spark Connect at {remote}: {first_line(exc)}",
                where="the Spark Connect URL",
                fix="start the Spark Connect server (sbin/start-connect-server.sh) or correct "
                "the URL",
            ) from None
    else:
        if active is not None:
            session = active
        else:
            builder = session_class.builder.master(f"local[{os.cpu_count() or 1}]")
            for key, value in {**_LOCAL_CONF, **SESSION_CONF}.items():
                builder = builder.config(key, value)
            session = _local(builder)
    for key, value in SESSION_CONF.items():
        session.conf.set(key, value)
    return session


_ALSO_STAGED = ("matched", "decided")
"""Also cached on Spark: otherwise its optimizer folds the rules' CTEs into one another,
repeating each rule's test in every decision that reads it (planning and running slower)."""


def run_attribution(
    session: SparkSession,
    rules: RuleSet,
    *,
    periods: Sequence[date] | None = None,
    rule_version: str | None = None,
) -> DataFrame:
    """The ``allocations`` rows of ``periods`` as a Spark DataFrame, from the views
    ``line_items`` and ``line_keys`` (the columns of ``costlens.schema``).

    The parts DuckDB materializes (the daily sums, the keys' decisions, the split units) are
    cached temporary views (``dialects.spark_stages``) that the frame reads; nothing runs until
    the frame is read, and ``drop_stages`` frees them afterwards.
    """
    compiled = compile_attribution(rules, periods=periods, rule_version=rule_version)
    stages, final = spark_stages(compiled, also=_ALSO_STAGED)
    for name, stage in stages:
        session.sql(stage.sql, args=stage.params).cache().createOrReplaceTempView(name)
    return session.sql(final.sql, args=final.params)


def drop_stages(session: SparkSession) -> None:
    """Uncache and drop the temporary views ``run_attribution`` made."""
    for table in session.catalog.listTables():
        if table.isTemporary and table.name.startswith(STAGE_PREFIX):
            session.catalog.dropTempView(table.name)
