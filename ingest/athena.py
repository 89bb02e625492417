"""``costlens athena-view``: costlens's attribution as a view over a CUR table in Athena.

A user of AWS's Cloud Intelligence Dashboards has the CUR as an Athena table; this writes
``CREATE OR REPLACE VIEW`` over it, so Athena and QuickSight query the allocations directly.
The view is the ingest normalization of the format (``ingest.formats``) over the table's rows,
one line key per description, then the compiled rules, all printed in Trino's dialect by
``costlens.attribution.dialects.over_cur_table`` (the same function prints its Spark twin, which
the tests run). The columns, the format and the tag keys come from a file of the export (the
table's columns are the files' columns); tag keys that file lacks keep their delivered spelling
in the view.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb
from sqlglot import exp

from costlens.attribution.compile import CompiledQuery, compile_attribution
from costlens.attribution.dialects import over_cur_table
from costlens.attribution.rules import RuleSet
from costlens.errors import IngestError
from costlens.line_keys import KEY_COLUMNS
from ingest.formats import FORMATS
from ingest.formats.readers import PARQUET_READER
from ingest.loader import _merged_columns, _tag_source, prepare_files, tag_keys_of
from ingest.model import ExportFile

__all__ = ["VIEW_FORMATS", "attribution_over_table", "create_view_sql"]

VIEW_FORMATS = ("cur2", "cur1-parquet")
"""The formats a view can read: Athena's CUR tables (CUR 2.0, legacy CUR in Parquet)."""


def _sample_file(path: Path) -> Path:
    if path.is_file():
        return path
    found = sorted(p for p in path.rglob("*.parquet") if "status" not in p.parent.name)
    if not found:
        raise IngestError(
            "no Parquet file of the export here",
            where=str(path),
            fix="give one data file of the export the Athena table reads (CUR 2.0 or legacy "
            "CUR in Parquet)",
        )
    return found[-1]


def attribution_over_table(
    sample: Path, table: str, rules: RuleSet, dialect: str, *, pretty: bool = False
) -> CompiledQuery:
    """The attribution of ``rules`` over the CUR table ``table`` (``db.name``) in ``dialect``
    (athena, or spark for its twin), its columns, format and tag keys read from ``sample`` (a
    Parquet file of the export, or a folder holding one)."""
    path = _sample_file(sample)
    origin = ExportFile(key=path.name, size=path.stat().st_size, path=path)
    with duckdb.connect() as con, tempfile.TemporaryDirectory() as unzip:
        files = prepare_files(con, [origin], Path(unzip), "auto")
        fmt = files[0].format
        if fmt not in VIEW_FORMATS or files[0].kind != "parquet":
            raise IngestError(
                f"the view reads CUR 2.0 and legacy CUR Parquet tables; this file is {fmt}",
                where=str(path),
                fix="give a file of the export the Athena table reads",
            )
        keys = tag_keys_of(con, files)
    columns = _merged_columns(files)
    normalization = FORMATS[fmt].build_sql(columns, "parquet")
    params = _tag_source(files).params(keys)
    query = compile_attribution(rules, rule_version=rules.version)
    return over_cur_table(
        normalization, PARQUET_READER, params, query, table, KEY_COLUMNS, dialect, pretty=pretty
    )


def create_view_sql(sample: Path, table: str, view: str, rules: RuleSet) -> str:
    """``CREATE OR REPLACE VIEW view AS`` the attribution over ``table``, in Athena's SQL."""
    select = attribution_over_table(sample, table, rules, "athena", pretty=True)
    assert not select.params, "an Athena view has no parameters"
    name = exp.to_table(view).sql(dialect="trino")
    return f"CREATE OR REPLACE VIEW {name} AS\n{select.sql}\n"
