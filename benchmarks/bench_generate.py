"""Sample generator throughput: CUR 2.0 line items per second and peak memory.

Generates 3 months of CUR 2.0 at the scale giving about ``--rows`` line items into a temporary
folder, next to a baseline measured in the same run: DuckDB writing the same number of rows of
``range()`` with random cost, id and tag-like columns to snappy Parquet (the raw cost of writing).

    .venv/bin/python benchmarks/bench_generate.py --rows 10000000
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import tempfile
import time
from datetime import date
from pathlib import Path

ROWS_PER_SCALE_UNIT = 375_000
"""Line items per unit of scale over these 3 months (January-March 2024, seed 1), measured at
scale 10 (3,746,173) and 26.88 (10,078,014); the fixed meters make scale 1 a little more
(433,980). The bench prints the actual count."""

_BASELINE_SQL = """
COPY (
    SELECT i AS id, md5(CAST(i AS VARCHAR)) AS line_item_id,
           TIMESTAMP '2024-01-01' + to_hours(i % 2184) AS usage_start,
           CAST(random() * 10 AS DECIMAL(18,10)) AS unblended_cost,
           CAST(random() * 10 AS DECIMAL(18,10)) AS amortized_cost,
           CAST(random() * 10 AS DECIMAL(18,10)) AS list_cost,
           random() AS usage_amount, 'AmazonEC2' AS product_code,
           'BoxUsage:m6i.large' AS usage_type,
           MAP {'user_team': 'payments', 'user_app': 'payments-api'} AS resource_tags
    FROM range($rows) t(i)
) TO '{path}' (FORMAT parquet, COMPRESSION snappy)
"""


def _generate(out: str, scale: float, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    from costlens.sample import generate_sample

    started = time.perf_counter()
    result = generate_sample(
        Path(out), format="cur2", months=3, seed=1, scale=scale, end_month=date(2024, 3, 1)
    )
    queue.put((result.line_items, time.perf_counter() - started))


def _baseline(out: str, rows: int, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    import duckdb

    started = time.perf_counter()
    con = duckdb.connect(config={"memory_limit": "1500MB"})
    con.execute(
        _BASELINE_SQL.replace("{path}", str(Path(out) / "baseline.parquet")), {"rows": rows}
    )
    queue.put((rows, time.perf_counter() - started))


def _peak_children_mib() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    args = parser.parse_args()
    scale = args.rows / ROWS_PER_SCALE_UNIT
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="bench-generate-") as tmp:
        queue: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
        proc = ctx.Process(target=_generate, args=(tmp, scale, queue))
        proc.start()
        rows, seconds = queue.get()
        proc.join()
        gen_rss = _peak_children_mib()
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
        proc = ctx.Process(target=_baseline, args=(tmp, rows, queue))
        proc.start()
        base_rows, base_seconds = queue.get()
        proc.join()
    gen_rate, base_rate = rows / seconds, base_rows / base_seconds
    print(f"generate-sample cur2, scale {scale:.2f}: {rows:,} line items in {seconds:.1f}s "
          f"= {gen_rate:,.0f} line items/s, {size / 2**20:,.0f} MiB written, "
          f"peak RSS {gen_rss:,.0f} MiB")  # fmt: skip
    print(f"baseline DuckDB range() → Parquet: {base_rows:,} rows in {base_seconds:.1f}s "
          f"= {base_rate:,.0f} rows/s")  # fmt: skip
    print(f"ratio generator/baseline throughput: {gen_rate / base_rate:.2f}")


if __name__ == "__main__":
    main()
