"""Small line items for the attribution tests, inserted into a real warehouse file."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import duckdb

from costlens.attribution import OwnersRegistry, parse_owners

OWNERS_YAML = """\
owners:
  - id: payments
    display_name: Payments
    cost_center: CC-1010
    aliases: [payments-team]
    microservices: [payments-api, {id: refunds, aliases: [refund-svc]}]
  - id: checkout
    cost_center: CC-1020
    microservices: [cart]
  - id: platform
    cost_center: CC-4010
    microservices: [eks-shared]
"""

INSERT = """
INSERT INTO line_items (billing_period, usage_start, payer_account_id, account_id, account_name,
  line_item_type, charge_category, service_code, region, usage_type, operation, resource_id,
  purchase_option, usage_amount, unblended_cost, amortized_cost, net_amortized_cost, list_cost,
  tags)
VALUES ($period, $start, '900', $account, $account_name, $lit, $cat, $service, $region,
  $usage_type, $operation, $resource, $po, $usage, $cost, $amortized, $cost, $cost,
  MAP(CAST($tag_keys AS VARCHAR[]), CAST($tag_values AS VARCHAR[])))
"""


def owners() -> OwnersRegistry:
    return parse_owners(OWNERS_YAML, "owners.yaml")


def line(
    resource: str,
    cost: str,
    tags: dict[str, str] | None = None,
    *,
    account: str = "111",
    account_name: str = "acme-prod",
    service: str = "AmazonEC2",
    region: str = "us-east-1",
    usage_type: str = "USE1-BoxUsage:m5.large",
    operation: str = "RunInstances",
    lit: str = "Usage",
    cat: str = "Usage",
    po: str = "OnDemand",
    period: date = date(2024, 1, 1),
    day: int = 2,
    amortized: str | None = None,
    usage: float = 1.0,
) -> dict[str, Any]:
    """One line item; costs are exact text."""
    tags = tags or {}
    return {
        "period": period,
        "start": datetime(period.year, period.month, day, 3),
        "account": account,
        "account_name": account_name,
        "lit": lit,
        "cat": cat,
        "service": service,
        "region": region,
        "usage_type": usage_type,
        "operation": operation,
        "resource": resource,
        "po": po,
        "usage": usage,
        "cost": Decimal(cost),
        "amortized": Decimal(amortized if amortized is not None else cost),
        "tag_keys": list(tags),
        "tag_values": list(tags.values()),
    }


def insert(con: duckdb.DuckDBPyConnection, lines: Iterable[dict[str, Any]]) -> None:
    for row in lines:
        con.execute(INSERT, row)


def by_resource(con: duckdb.DuckDBPyConnection, *columns: str) -> dict[str, tuple[Any, ...]]:
    """``{resource_id: (columns...)}`` of the direct allocation rows (one per resource)."""
    cols = ", ".join(f'"{c}"' for c in columns)
    rows = con.execute(
        f"SELECT resource_id, {cols} FROM allocations WHERE allocation = 'direct' ORDER BY 1"
    ).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


# A rules file with every condition kind, value template, normalize option and split method
# (proportional, even, fixed with a credit, an empty-basis split to unallocated).
EVERY_KIND_RULES = r"""
dimensions: [environment, cost_center, team_path]
defaults: {environment: unknown}
normalize: {aliases: {"payments team": payments}}
rules:
  - name: app-exact
    match: {tag: {key: app, in: [payments-api, cart], ignore_case: true}}
    set: {microservice: "{tag:app}"}
  - name: app-alias
    match: {all: [{tag: app | service}, {not: {service: AWSSupportEnterprise}}]}
    set: {microservice: "{tag:app | service}"}
  - name: team
    match: {tag: {key: team | owner, regex: '(?i)^pay'}}
    set: {owner: "{tag:team | owner}", team_path: "teams/{tag:team}/{region}"}
  - name: sandbox-glob
    match: {account_name: {glob: "*-sand[a-z]ox"}}
    set: {owner: checkout, environment: "sandbox-{account_id}", cost_center: cc-1020}
  - name: eu-or-credit
    match: {any: [{region: {glob: "eu-*-[!2]"}}, {line_item_type: Credit}]}
    set: {environment: "it's \\ {service}"}
  - name: env-tag
    match: {tag: {key: env, present: true}}
    set: {environment: "{tag:env}"}
    normalize: {lower: false, aliases: {"PROD ": production}}
  - name: untagged
    match: {tag: {key: app, absent: true}}
    set: {team_path: "none/{account_name}"}
shared:
  - name: eks
    match: {resource: {glob: "*:cluster/eks?"}}
    to: [payments, checkout, platform]
    by: proportional
    microservice: eks-shared
  - {name: support, match: {service: AWSSupportEnterprise}, by: even, to: all}
  - name: credits
    match: {line_item_type: Credit}
    by: fixed
    weights: {payments: 2, checkout: 1.5}
  - name: nobody-spends
    match: {service: AWSDataTransfer}
    to: [platform]
    by: proportional
    cost_column: list_cost
"""
