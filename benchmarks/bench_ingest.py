"""Benchmark ``costlens ingest`` of a large CUR 2.0 export against DuckDB's plain copy.

Generates one month of the sample company's CUR 2.0 export with ``costlens.sample`` (at most
``--generate-rows`` line items; the data file is then copied within the same billing-period folder,
and the manifest lists every copy, until about ``--rows`` line items), then measures, each in a
fresh subprocess of the same run:

- baseline: ``CREATE TABLE t AS SELECT * FROM read_parquet([...])`` of the same files into a new
  DuckDB file (same ``memory_limit`` and ``preserve_insertion_order = false`` as ingest);
- ``costlens ingest DIR`` into a new warehouse (detect, hash, normalize, load, ledger);
- ``costlens ingest DIR`` again (an unchanged delivery: the no-op path).

It does so twice: for the files as generated (costs ``DECIMAL(18,10)``) and for the same files
with every DECIMAL column rewritten as DOUBLE, the way AWS's own CUR 2.0 and legacy Parquet
exports type costs (one DuckDB ``COPY`` per file, before and outside the timings).

Wall time and peak RSS come from ``os.wait4`` on each child; the load average before and after
each variant is printed (the machine is shared). Usage::

    .venv/bin/python benchmarks/bench_ingest.py --rows 10000000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROWS_PER_SCALE = 148_000  # one month at scale 1 (measured)
BASELINE = """
import duckdb, json, sys
con = duckdb.connect(sys.argv[1])
con.execute("SET preserve_insertion_order = false")
con.execute("SET memory_limit = '1GB'")
con.execute("SET enable_progress_bar = false")
files = json.loads(sys.argv[2])
con.execute("CREATE TABLE t AS SELECT * FROM read_parquet($files)", {"files": files})
print(con.execute("SELECT count(*) FROM t").fetchone()[0])
"""
TO_DOUBLES = """
import duckdb, json, sys
con = duckdb.connect()
for src, dest in json.loads(sys.argv[1]):
    read = "read_parquet($file, hive_partitioning = false)"
    columns = con.execute(f"DESCRIBE SELECT * FROM {read}", {"file": src}).fetchall()
    names = [c[0].replace('"', '""') for c in columns if c[1].startswith("DECIMAL")]
    replace = ", ".join(f'CAST("{n}" AS DOUBLE) AS "{n}"' for n in names)
    target = dest.replace("'", "''")  # COPY takes no bound target
    con.execute(
        f"COPY (SELECT * REPLACE ({replace}) FROM {read}) TO '{target}' "
        "(FORMAT parquet, COMPRESSION snappy)",
        {"file": src},
    )
"""


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MiB and stdout of one child process."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(f"{cmd[:4]} failed with exit {proc.returncode}")
    return wall, usage.ru_maxrss / 1024, out


def _count_rows(root: Path) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in root.rglob("*.parquet"))


def _grow(export_dir: Path, rows_wanted: int, rows_have: int) -> list[Path]:
    """Copy the period's data files until about ``rows_wanted`` rows; rewrite the manifest."""
    [data_dir] = list((export_dir / "data").iterdir())
    [manifest] = list((export_dir / "metadata").rglob("*Manifest.json"))
    originals = sorted(data_dir.glob("*.parquet"))
    files = list(originals)
    for n in range(2, max(1, round(rows_wanted / rows_have)) + 1):
        for src in originals:
            dest = src.with_name(f"copy{n:03d}-{src.name}")
            shutil.copyfile(src, dest)
            files.append(dest)
    body = json.loads(manifest.read_text())
    prefix = body["dataFiles"][0].rsplit("/", 1)[0]
    body["dataFiles"] = [f"{prefix}/{f.name}" for f in files]
    manifest.write_text(json.dumps(body))
    return files


def _as_doubles(src_root: Path, dest_root: Path, files: list[Path]) -> list[Path]:
    """Copy the export tree with every DECIMAL column of the data files rewritten as DOUBLE (in a
    child process, so this one stays small)."""
    shutil.copytree(src_root, dest_root, ignore=shutil.ignore_patterns("*.parquet"))
    pairs = [(str(f), str(dest_root / f.relative_to(src_root))) for f in files]
    subprocess.run([sys.executable, "-c", TO_DOUBLES, json.dumps(pairs)], check=True)
    return [Path(dest) for _, dest in pairs]


def _measure(
    label: str, exports: Path, files: list[Path], work: Path, env: dict[str, str]
) -> tuple[bool, dict[str, str]]:
    """Baseline copy, new ingest and unchanged ingest of one variant: whether the targets are
    met, and the ledger totals."""
    load_before = os.getloadavg()
    work.mkdir()
    base_wall, base_rss, base_out = _run(
        [
            sys.executable,
            "-c",
            BASELINE,
            str(work / "baseline.duckdb"),
            json.dumps([str(f) for f in files]),
        ],
        env,
    )
    ingest_env = {**env, "COSTLENS_DATA_DIR": str(work / "data")}
    cmd = [sys.executable, "-m", "costlens", "ingest", str(exports), "--json"]
    wall, rss, out = _run(cmd, ingest_env)
    again_wall, again_rss, again_out = _run(cmd, ingest_env)
    loaded = sum(d["rows"] for d in json.loads(out)["deliveries"])
    statuses = [d["status"] for d in json.loads(again_out)["deliveries"]]
    load_after = os.getloadavg()

    print(f"== {label}: load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    print(
        f"baseline CREATE TABLE AS read_parquet: {base_wall:7.1f} s  peak RSS "
        f"{base_rss:6.0f} MiB  ({int(base_out):,} rows)"
    )
    print(
        f"costlens ingest (new):                 {wall:7.1f} s  peak RSS {rss:6.0f} MiB  "
        f"({loaded:,} rows)  ratio {wall / base_wall:.2f}x"
    )
    print(
        f"costlens ingest (unchanged):           {again_wall:7.1f} s  peak RSS "
        f"{again_rss:6.0f} MiB  ({', '.join(statuses)})"
    )
    [totals] = [d["totals"] for d in json.loads(out)["deliveries"]]
    return wall <= 2 * base_wall and rss < 2048, totals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="line items to ingest")
    parser.add_argument("--generate-rows", type=int, default=1_000_000, help="rows to generate")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args, _ = parser.parse_known_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        gen_rows = min(args.rows, args.generate_rows)
        scale = max(gen_rows / ROWS_PER_SCALE, 0.01)
        started = time.perf_counter()
        # in a child, so this process stays small (a child's peak RSS starts at its parent's)
        generate = [sys.executable, "-m", "costlens", "generate-sample", str(tmp / "exports")]
        generate += ["--format", "cur2", "--months", "1", "--seed", "1", "--scale", f"{scale:.4f}"]
        generate += ["--end-month", "2024-03"]
        subprocess.run(generate, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        have = _count_rows(tmp / "exports")
        [export_dir] = [p for p in (tmp / "exports").iterdir() if p.is_dir()]
        files = _grow(export_dir, args.rows, have)
        total_rows = _count_rows(tmp / "exports")
        size_mib = sum(f.stat().st_size for f in files) / 2**20
        print(
            f"data: {total_rows:,} CUR 2.0 line items in {len(files)} Parquet files, "
            f"{size_mib:.0f} MiB (generated {have:,} in {time.perf_counter() - started:.0f}s)"
        )

        env = {k: v for k, v in os.environ.items() if not k.startswith("COSTLENS_")}
        started = time.perf_counter()
        double_files = _as_doubles(tmp / "exports", tmp / "exports-double", files)
        print(f"AWS-typed copy (DECIMAL columns as DOUBLE) in {time.perf_counter() - started:.0f}s")
        met = [
            _measure("generated (DECIMAL(18,10) costs)", tmp / "exports", files, tmp / "dec", env),
            _measure(
                "AWS-typed (DOUBLE costs)", tmp / "exports-double", double_files, tmp / "dbl", env
            ),
        ]
        ok = all(m[0] for m in met)
        same = met[0][1] == met[1][1]
        print(f"ledger totals of both variants equal: {'yes' if same else 'NO'} {met[1][1]}")
        print(f"targets (ingest <= 2x baseline, peak < 2 GiB): {'met' if ok else 'NOT met'}")
        return 0
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
