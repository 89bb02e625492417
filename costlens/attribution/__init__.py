"""Attribution: ``rules.yaml`` + ``owners.yaml`` compiled to one SQL pass over ``line_items``.

Every cent gets a microservice and a business owner, or the explicit owner ``unallocated``;
shared costs are split exactly; ``allocations`` sums to ``line_items`` per period and cost column.
See ``docs/rules.md``.
"""

from __future__ import annotations

from costlens.attribution._yaml import RuleErrors
from costlens.attribution.compile import CompiledQuery, allocation_columns, compile_attribution
from costlens.attribution.engine import (
    ALLOCATIONS,
    AttributionResult,
    attribute,
    check_conservation,
)
from costlens.attribution.owners import (
    UNALLOCATED,
    Microservice,
    Owner,
    OwnersRegistry,
    load_owners,
    parse_owners,
)
from costlens.attribution.rules import Rule, RuleSet, SplitRule, load_rules, parse_rules

__all__ = [
    "ALLOCATIONS",
    "UNALLOCATED",
    "AttributionResult",
    "CompiledQuery",
    "Microservice",
    "Owner",
    "OwnersRegistry",
    "Rule",
    "RuleErrors",
    "RuleSet",
    "SplitRule",
    "allocation_columns",
    "attribute",
    "check_conservation",
    "compile_attribution",
    "load_owners",
    "load_rules",
    "parse_owners",
    "parse_rules",
]
