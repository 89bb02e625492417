"""Shared-cost splits of ``rules.yaml`` (the ``shared:`` list), parsed and validated.

How the shares are computed is ``costlens.attribution.shared``; this module only reads the YAML.
Each split's independent parts (condition, method and targets, cost column, microservice) are
checked separately, so ``rules check`` reports every error of a split at once.

>>> from costlens.attribution._yaml import ErrorLog, parse_yaml_text
>>> from costlens.attribution.owners import parse_owners
>>> owners = parse_owners("owners: [{id: a}, {id: b}]", "o.yaml")
>>> node = parse_yaml_text("{name: s, match: {service: X}, by: fixed, weights: {a: 2, b: 1}}", "r")
>>> split = parse_split(node, owners, ErrorLog())
>>> split.targets, split.weights
(('a', 'b'), {'a': Decimal('2'), 'b': Decimal('1')})
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from costlens.attribution._yaml import ErrorLog, YNode, check_keys
from costlens.attribution.conditions import Condition, parse_condition
from costlens.attribution.owners import OwnersRegistry
from costlens.schema import COST_COLUMNS

__all__ = ["SPLIT_METHODS", "SplitRule", "parse_split"]

SPLIT_METHODS = ("proportional", "even", "fixed")
_SPLIT_KEYS = ("name", "description", "match", "to", "by", "cost_column", "weights", "microservice")


@dataclass(frozen=True)
class SplitRule:
    """A shared-cost split: costs matching ``match`` go to ``targets`` by ``method``."""

    name: str
    match: Condition
    targets: tuple[str, ...]
    method: str
    cost_column: str = "amortized_cost"
    weights: dict[str, Decimal] = field(default_factory=dict)
    microservice: str | None = None
    """Microservice label of the shares; None keeps the one the rules gave the cost."""
    where: str = ""
    description: str = ""


def _targets(name: str, to: YNode | None, owners: OwnersRegistry) -> tuple[str, ...]:
    if to is None or (to.is_scalar and to.text() == "all"):
        return tuple(sorted(owners.owners))
    targets = tuple(to.text_list("a list of owner ids"))
    for t in targets:
        if t not in owners.owners:
            raise to.error(
                f"split {name!r}: unknown owner {t!r}",
                f"use `all` or owners from {owners.path}: {', '.join(sorted(owners.owners))}",
            )
    return targets


def _weights(
    name: str, e: dict[str, YNode], node: YNode, targets: tuple[str, ...], owners: OwnersRegistry
) -> tuple[dict[str, Decimal], tuple[str, ...]]:
    """The fixed weights and the targets (the weighted owners when ``to`` is not given)."""
    if "weights" not in e:
        raise node.error(
            f"split {name!r} is `by: fixed` without `weights`", "add `weights: {a: 2, b: 1}`"
        )
    weights: dict[str, Decimal] = {}
    for owner_id, w in e["weights"].mapping("owner: weight pairs").items():
        if owner_id not in owners.owners:
            raise w.error(f"unknown owner {owner_id!r}", f"use owners from {owners.path}")
        weight = w.decimal("a weight")
        if weight < 0 or weight.as_tuple().exponent < -10:  # type: ignore[operator]
            raise w.error("a weight must be >= 0 with at most 10 decimals", "write e.g. 2.5")
        weights[owner_id] = weight
    if "to" not in e:
        targets = tuple(weights)
    if set(weights) != set(targets) or sum(weights.values()) <= 0:
        raise e["weights"].error(
            f"split {name!r}: weights must cover exactly its targets and sum above 0",
            f"give a weight to each of: {', '.join(targets)}",
        )
    return weights, targets


def _method_and_targets(
    name: str, e: dict[str, YNode], node: YNode, owners: OwnersRegistry
) -> tuple[str, tuple[str, ...], dict[str, Decimal]]:
    method = e["by"].text("a split method")
    if method not in SPLIT_METHODS:
        raise e["by"].error(
            f"unknown split method {method!r}", f"use one of: {', '.join(SPLIT_METHODS)}"
        )
    targets = _targets(name, e.get("to"), owners)
    if not targets:
        raise node.error(f"split {name!r} has no target owners", f"add owners to {owners.path}")
    if method == "fixed":
        weights, targets = _weights(name, e, node, targets, owners)
        return method, targets, weights
    if "weights" in e:
        raise e["weights"].error(
            "`weights` only applies to `by: fixed`", "remove it or use by: fixed"
        )
    return method, targets, {}


def _cost_column(node: YNode) -> str:
    cost_column = node.text("a cost column")
    if cost_column not in COST_COLUMNS:
        raise node.error(
            f"unknown cost column {cost_column!r}", f"use one of: {', '.join(COST_COLUMNS)}"
        )
    return cost_column


def _microservice(node: YNode, owners: OwnersRegistry) -> str:
    microservice = node.text("a microservice id")
    if microservice not in owners.microservices:
        raise node.error(
            f"unknown microservice {microservice!r}", f"add it under an owner in {owners.path}"
        )
    return microservice


def parse_split(node: YNode, owners: OwnersRegistry, log: ErrorLog) -> SplitRule | None:
    """One entry of ``shared:``; None when it has errors (each recorded in ``log``)."""
    before = len(log.errors)
    e = check_keys(node, _SPLIT_KEYS, "a shared-cost split", log)
    for required in ("name", "match", "by"):
        if required not in e:
            log.add(node.error(f"split without `{required}`", "see docs/rules.md, Shared costs"))
    name = log.attempt(e["name"].text, "a split name") if "name" in e else None
    match = log.attempt(parse_condition, e["match"]) if "match" in e else None
    shape = log.attempt(_method_and_targets, name or "?", e, node, owners) if "by" in e else None
    cost_column = (
        log.attempt(_cost_column, e["cost_column"]) if "cost_column" in e else "amortized_cost"
    )
    microservice = (
        log.attempt(_microservice, e["microservice"], owners) if "microservice" in e else None
    )
    description = log.attempt(e["description"].text) if "description" in e else ""
    if len(log.errors) > before or name is None or match is None or shape is None:
        return None
    method, targets, weights = shape
    return SplitRule(
        name=name,
        match=match,
        targets=targets,
        method=method,
        cost_column=cost_column or "amortized_cost",
        weights=weights,
        microservice=microservice,
        where=node.where,
        description=description or "",
    )
