# ruff: noqa: E501
"""The hourly usage line items of one billing period: the meters crossed with the hours, in DuckDB.

Built for speed at 10 million line items; the work is split by what it varies with:

- per meter (``slots``, a few thousand rows): every string and map a line carries, the tag map
  in each format's spelling, rates as DOUBLE, the meter's anomaly and its data file;
- per hour (``hours``, at most 744 rows): time of day, weekend, growth, ``identity_time_interval``;
- per line (``keys``: file, slot, hour, negation, noise; built once per period, in order): only
  the amounts. They are computed in DOUBLE and each money column is cast to ``DECIMAL(18,10)``
  once (a decimal product cast down to scale 10 costs ~100x more), so every format projects
  the same decimal values.

``keys`` is ordered by data file, so a writer's ``WHERE file_no = n`` reads only that file's
lines (the filter reaches the ``keys`` scan) and the output order, hence the bytes, is fixed.
"""

from __future__ import annotations

import duckdb

__all__ = [
    "CUR2_PRODUCT_SQL",
    "CUR2_TAGS_SQL",
    "FOCUS_TAGS_SQL",
    "PRODUCT_ATTRIBUTES",
    "PRODUCT_SERVICENAME_SQL",
    "TIME_INTERVAL_SQL",
    "prepare_hourly",
]

CUR2_TAGS_SQL = (
    "map_from_entries(list_transform(map_entries(tags), lambda e: {'key': 'user_' || "
    "regexp_replace(e.key, '[^A-Za-z0-9_]', '_', 'g'), 'value': e.value}))"
)
"""CUR 2.0 ``resource_tags`` from the canonical tag map (``team`` → ``user_team``)."""
FOCUS_TAGS_SQL = (
    "map_from_entries(list_transform(map_entries(tags), lambda e: "
    "{'key': 'user:' || e.key, 'value': e.value}))"
)
"""FOCUS ``Tags`` from the canonical tag map (``team`` → ``user:team``)."""
PRODUCT_SERVICENAME_SQL = (
    "CASE WHEN product_family IN ('', 'Savings Plan') THEN '' ELSE service_name END"
)
"""``product/servicename`` as AWS writes it: empty on lines without a product (tax, credits,
refunds, support) and on Savings Plan fees, whose product name still names the service (ingest
falls back to it)."""
PRODUCT_ATTRIBUTES: tuple[str, ...] = (
    "volume_api_name", "volume_type", "storage_class", "database_engine", "license_model",
    "operating_system", "physical_processor",
)  # fmt: skip
"""The product attributes a line carries ('' when its product has none), as canon columns and as
keys of CUR 2.0's ``product`` map (legacy CUR: ``product/volumeApiName``, ...)."""
_OPTIONAL_PRODUCT = ", ".join(f"{{'key': '{a}', 'value': {a}}}" for a in PRODUCT_ATTRIBUTES)
CUR2_PRODUCT_SQL = (
    "map_from_entries(list_concat("
    f"[{{'key': 'servicename', 'value': {PRODUCT_SERVICENAME_SQL}}},"
    " {'key': 'product_name', 'value': service_name}, {'key': 'region', 'value': region},"
    " {'key': 'product_family', 'value': product_family},"
    " {'key': 'instance_type', 'value': instance_type}],"
    f" list_filter([{_OPTIONAL_PRODUCT}], lambda e: e.value <> '')))"
)
"""CUR 2.0 ``product`` map: five keys on every line, the product attributes only where the
product has them (as AWS writes the map)."""
TIME_INTERVAL_SQL = "strftime(usage_start, '%Y-%m-%dT%H:%M:%SZ') || '/' || strftime(usage_end, '%Y-%m-%dT%H:%M:%SZ')"
"""``identity_time_interval`` (CUR 2.0, legacy CUR)."""

_HOURS_SQL = """
CREATE OR REPLACE TEMP TABLE hours AS
SELECT CAST(i AS INTEGER) AS h, ts, ts + INTERVAL 1 HOUR AS usage_end,
    hour(ts) AS hour_of_day, dayofweek(ts) IN (0, 6) AS weekend,
    date_diff('hour', history_start, ts) / 720.0 AS months_in, ts >= sp_start AS sp_active,
    strftime(ts, '%Y-%m-%dT%H:%M:%SZ') || '/'
        || strftime(ts + INTERVAL 1 HOUR, '%Y-%m-%dT%H:%M:%SZ') AS time_interval
FROM (SELECT i, p.period_start + to_hours(i) AS ts, p.history_start, p.sp_start
      FROM range(CAST($hours AS BIGINT)) r(i), period p)
"""

_SLOTS_SQL = f"""
CREATE OR REPLACE TEMP TABLE slots AS
SELECT
    CAST(row_number() OVER (ORDER BY m.meter_id % p.files, m.meter_id) - 1 AS INTEGER) AS slot,
    CAST(m.meter_id % p.files AS INTEGER) AS file_no,
    m.* EXCLUDE (tags), m.tags,
    {CUR2_TAGS_SQL} AS cur2_resource_tags, {FOCUS_TAGS_SQL} AS focus_tags,
    {CUR2_PRODUCT_SQL} AS cur2_product,
    CAST(m.list_rate AS DOUBLE) AS list_rate_d,
    CASE WHEN m.purchase_option = 'Spot' THEN CAST(m.rate AS DOUBLE)
         ELSE CAST(m.list_rate AS DOUBLE) END AS rate_d,
    CAST(m.list_rate * p.sp_discount AS DECIMAL(18,10)) AS sp_rate,
    CAST(CAST(m.list_rate * p.sp_discount AS DECIMAL(18,10)) AS DOUBLE) AS sp_rate_d,
    'Savings Plan covered usage: ' || m.description AS sp_description,
    'Savings Plan Negation used by AccountId : ' || m.account_id AS negation_description,
    COALESCE(a.kind, '') AS anomaly_kind, a.start_ts AS anomaly_start, a.end_ts AS anomaly_end,
    a.factor AS anomaly_factor,
    p.seed, p.hours_in_month, p.invoice_id, p.ri_arn, p.sp_arn, p.sp_offering_type,
    p.ri_offering_class,
    CAST(p.period_start AS DATE) AS billing_period, CAST(p.period_end AS DATE) AS billing_period_end,
    p.ri_effective_rate, p.ri_recurring_rate, p.ri_upfront_rate,
    CAST(p.ri_effective_rate AS DOUBLE) AS ri_effective_d,
    CAST(p.ri_recurring_rate AS DOUBLE) AS ri_recurring_d,
    CAST(p.ri_upfront_rate AS DOUBLE) AS ri_upfront_d
FROM meters m CROSS JOIN period p LEFT JOIN anomalies a ON a.meter_id = m.meter_id
WHERE m.active_from < p.period_end AND m.active_to > p.period_start
"""  # noqa: S608 - built from this module's fixed fragments

# One row per line in file order: the meter's hours it is active (Spot batches run in a
# hash-chosen subset of hours) and, for Savings-Plan-covered hours, the negation (neg = 1).
_KEYS_SQL = """
CREATE OR REPLACE TEMP TABLE keys AS
WITH grid AS (
    SELECT s.file_no, r.slot, r.h,
        (hash(s.seed, s.meter_id, hr.ts) % 1000003) / 1000003.0 AS u,
        s.sp_covered AND hr.sp_active AS sp_now, s.profile, hr.weekend, hr.ts,
        s.active_from, s.active_to
    FROM (SELECT CAST(i // $hours AS INTEGER) AS slot, CAST(i % $hours AS INTEGER) AS h
          FROM range(CAST($n AS BIGINT)) t(i)) r
    JOIN slots s ON s.slot = r.slot
    JOIN hours hr ON hr.h = r.h
)
SELECT file_no, slot, h, CAST(k.neg AS TINYINT) AS neg, u
FROM grid JOIN (VALUES (0), (1)) AS k(neg) ON k.neg = 0 OR sp_now
WHERE ts >= active_from AND ts < active_to
  AND (profile <> 'batch' OR u < (CASE WHEN weekend THEN 0.35 ELSE 0.75 END))
"""

_DEC = "DECIMAL(18,10)"
_ZERO = "CAST(0 AS DECIMAL(18,10))"

_HOURLY_SQL = f"""
CREATE OR REPLACE TEMP VIEW hourly AS
WITH grid AS (
    SELECT k.file_no, k.neg, k.u, s.* EXCLUDE (slot, file_no),
        hr.ts, hr.usage_end, hr.hour_of_day, hr.weekend, hr.months_in, hr.time_interval,
        s.sp_covered AND hr.sp_active AS sp_now,
        CASE WHEN s.anomaly_kind <> '' AND hr.ts >= s.anomaly_start AND hr.ts < s.anomaly_end
             THEN s.anomaly_kind ELSE '' END AS anomaly
    FROM keys k JOIN slots s ON s.slot = k.slot JOIN hours hr ON hr.h = k.h
), amounts AS (
    SELECT *,
        CASE profile
            WHEN 'const' THEN 1.0
            WHEN 'batch' THEN 1.0
            WHEN 'storage' THEN base_amount * (1 + 0.02 * months_in) / hours_in_month
            ELSE base_amount * (1 + 0.35 * sin(2 * pi() * (hour_of_day - 8) / 24))
                 * (CASE WHEN weekend THEN 0.6 ELSE 1.0 END) * (1 + 0.03 * months_in)
                 * (0.85 + 0.3 * u)
        END AS raw_amount,
        CASE anomaly
            WHEN '' THEN 1.0
            WHEN 'slow_drift' THEN 1 + anomaly_factor * date_diff('hour', anomaly_start, ts) / 24.0
            WHEN 'new_service_ramp' THEN least(1.0, 0.1 + date_diff('hour', anomaly_start, ts)
                                                         / (24.0 * anomaly_factor))
            ELSE anomaly_factor
        END AS mult
    FROM grid
), priced AS (
    SELECT *, round(raw_amount * mult, 8) AS amount,
        CASE anomaly WHEN '' THEN NULL WHEN 'new_service_ramp' THEN 0.0
             ELSE round(raw_amount, 8) END AS base_amount_d
    FROM amounts
), costed AS (
    SELECT *,
        CAST(amount * list_rate_d AS {_DEC}) AS c_list,
        CAST(amount * rate_d AS {_DEC}) AS c_rate,
        CASE WHEN sp_now THEN CAST(amount * sp_rate_d AS {_DEC}) END AS c_sp,
        CASE WHEN ri_covered THEN CAST(amount * ri_effective_d AS {_DEC}) END AS c_ri,
        CAST(base_amount_d * rate_d AS {_DEC}) AS c_base
    FROM priced
)
SELECT
    billing_period, billing_period_end, ts AS usage_start, usage_end,
    $payer AS payer_account_id, $payer_name AS payer_account_name,
    account_id, account_name, invoice_id,
    lower(hex(hash(seed, meter_id, ts, neg))) AS line_item_id,
    CASE WHEN neg = 1 THEN 'SavingsPlanNegation'
         WHEN sp_now THEN 'SavingsPlanCoveredUsage'
         WHEN ri_covered THEN 'DiscountedUsage' ELSE 'Usage' END AS line_item_type,
    service_code, service_name, product_family, region, usage_type, operation, resource_id,
    instance_type, volume_api_name, volume_type, storage_class, database_engine, license_model,
    operating_system, physical_processor,
    CASE WHEN sp_now THEN 'SavingsPlan' WHEN ri_covered THEN 'Reserved'
         ELSE purchase_option END AS purchase_option,
    CASE WHEN ri_covered THEN 'Reserved' WHEN purchase_option = 'Spot' THEN 'Spot'
         ELSE 'OnDemand' END AS pricing_term,
    CASE WHEN ri_covered THEN ri_offering_class ELSE '' END AS pricing_offering_class,
    amount AS usage_amount, pricing_unit,
    CASE WHEN neg = 1 OR sp_now THEN list_rate WHEN ri_covered THEN {_ZERO}
         ELSE rate END AS unblended_rate,
    CASE WHEN neg = 1 THEN -c_list WHEN sp_now THEN c_list
         WHEN ri_covered THEN {_ZERO} ELSE c_rate END AS unblended_cost,
    list_rate,
    CASE WHEN neg = 1 THEN {_ZERO} ELSE c_list END AS list_cost,
    CASE WHEN neg = 1 THEN negation_description WHEN sp_now THEN sp_description
         ELSE description END AS description,
    tags,
    CASE WHEN ri_covered THEN ri_arn END AS reservation_arn,
    c_ri AS reservation_effective_cost,
    CASE WHEN ri_covered THEN CAST(amount * ri_recurring_d AS {_DEC})
         END AS reservation_recurring_fee_for_usage,
    CASE WHEN ri_covered THEN CAST(amount * ri_upfront_d AS {_DEC})
         END AS reservation_amortized_upfront_cost_for_usage,
    CAST(NULL AS {_DEC}) AS reservation_amortized_upfront_fee_for_billing_period,
    CAST(NULL AS {_DEC}) AS reservation_unused_amortized_upfront_fee_for_billing_period,
    CAST(NULL AS {_DEC}) AS reservation_unused_recurring_fee,
    CAST(NULL AS DOUBLE) AS reservation_unused_quantity,
    CAST(NULL AS {_DEC}) AS reservation_upfront_value,
    CASE WHEN sp_now THEN sp_arn END AS savings_plan_arn,
    CASE WHEN sp_now THEN sp_offering_type ELSE '' END AS savings_plan_offering_type,
    CASE WHEN sp_now AND neg = 0 THEN sp_rate END AS savings_plan_rate,
    CASE WHEN neg = 0 THEN c_sp END AS savings_plan_effective_cost,
    CAST(NULL AS {_DEC}) AS savings_plan_total_commitment_to_date,
    CAST(NULL AS {_DEC}) AS savings_plan_used_commitment,
    CAST(NULL AS {_DEC}) AS savings_plan_amortized_upfront_commitment_for_billing_period,
    CAST(NULL AS {_DEC}) AS savings_plan_recurring_commitment_for_billing_period,
    CASE WHEN neg = 1 THEN {_ZERO} WHEN sp_now THEN c_sp
         WHEN ri_covered THEN c_ri ELSE c_rate END AS amortized_cost,
    microservice,
    CASE WHEN neg = 1 OR ri_covered THEN {_ZERO}
         ELSE COALESCE(c_base, c_list) END AS baseline_cost,
    file_no, cur2_resource_tags, focus_tags, cur2_product, time_interval, anomaly
FROM costed
"""  # noqa: S608 - built from this module's fixed fragments


def prepare_hourly(
    con: duckdb.DuckDBPyConnection, hours: int, payer_id: str, payer_name: str
) -> None:
    """Create ``hours``, ``slots``, ``keys`` and the view ``hourly`` of the period in ``con``
    (which holds ``period``, ``meters`` and ``anomalies``)."""
    con.execute(_HOURS_SQL, {"hours": hours})
    con.execute(_SLOTS_SQL)
    row = con.execute("SELECT count(*) FROM slots").fetchone()
    slots = int(row[0]) if row else 0
    con.execute(_KEYS_SQL, {"hours": hours, "n": slots * hours})
    # A view cannot hold parameters: the payer id and name are checked, quote-free literals.
    for value in (payer_id, payer_name):
        assert value.replace("-", "").replace(" ", "").isalnum(), value
    sql = _HOURLY_SQL.replace("$payer_name", f"'{payer_name}'").replace("$payer", f"'{payer_id}'")
    con.execute(sql)
