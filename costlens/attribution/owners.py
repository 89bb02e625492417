"""The owners registry (``owners.yaml``): business owners and the microservices they own.

>>> reg = parse_owners('''
... owners:
...   - id: payments
...     display_name: Payments
...     business_owner: Amara Okafor
...     email: amara@example.com
...     monthly_budget: 42000.50
...     cost_center: CC-1010
...     kpi_goals: {spot_coverage: 0.4}
...     microservices: [payments-api]
... microservices:
...   - id: refunds
...     owner: payments
...     aliases: [Refunds, refund-svc]
... ''', "owners.yaml")
>>> reg.owner("payments").monthly_budget
Decimal('42000.50')
>>> reg.owner_of("refunds"), reg.resolve_microservice(" Refund-Svc")
('payments', 'refunds')
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import yaml

from costlens.attribution._yaml import ErrorLog, YNode, check_keys, parse_yaml_text, read_file
from costlens.errors import RuleError

__all__ = [
    "UNALLOCATED",
    "Microservice",
    "Owner",
    "OwnersRegistry",
    "load_owners",
    "parse_owners",
]

UNALLOCATED = "unallocated"
"""The owner and microservice of any cost no rule catches: shown, never hidden."""

_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_EMAIL = re.compile(r"^[^@\s,;<>]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_OWNER_KEYS = (
    "id",
    "display_name",
    "business_owner",
    "email",
    "monthly_budget",
    "cost_center",
    "kpi_goals",
    "aliases",
    "microservices",
)
_MS_KEYS = ("id", "owner", "description", "aliases")
_NOT_IN_HEADERS = ("Cc", "Zl", "Zp")
"""Unicode categories refused in names that go into mail headers: controls, line separators."""
_LINE_BREAKS = "\r\n\x0b\x0c\x85\u2028\u2029"
T = TypeVar("T")


@dataclass(frozen=True)
class Owner:
    """A business owner: the team accountable for the cost of its microservices."""

    id: str
    display_name: str
    business_owner: str = ""
    """The person responsible (receives the digest)."""
    emails: tuple[str, ...] = ()
    monthly_budget: Decimal | None = None
    """Monthly budget in USD, exact."""
    cost_center: str = ""
    kpi_goals: dict[str, Decimal] = field(default_factory=dict)
    """Goal per KPI name (e.g. ``spot_coverage: 0.4``), exact."""
    aliases: tuple[str, ...] = ()
    """Other spellings of the id found in tags (compared trimmed, case-insensitively)."""

    @property
    def email(self) -> str | None:
        """The first email address, or None."""
        return self.emails[0] if self.emails else None


@dataclass(frozen=True)
class Microservice:
    """A microservice and its owner."""

    id: str
    owner: str
    description: str = ""
    aliases: tuple[str, ...] = ()
    """Other spellings found in tags (compared trimmed, case-insensitively)."""


@dataclass(frozen=True)
class OwnersRegistry:
    """Owners and microservices from one ``owners.yaml``."""

    owners: dict[str, Owner]
    microservices: dict[str, Microservice]
    path: str = "owners.yaml"
    sha256: str = ""
    """sha256 of the file's bytes (part of the rule-set version)."""

    def owner(self, owner_id: str) -> Owner:
        """The owner ``owner_id`` (``RuleError`` listing the known ones otherwise)."""
        try:
            return self.owners[owner_id]
        except KeyError:
            raise RuleError(
                f"unknown owner {owner_id!r}",
                where=self.path,
                fix=f"use one of: {', '.join(sorted(self.owners))}",
            ) from None

    def owner_of(self, microservice_id: str) -> str | None:
        """The owner id of a microservice, or None when the microservice is not registered."""
        ms = self.microservices.get(microservice_id)
        return ms.owner if ms else None

    def owner_aliases(self) -> dict[str, str]:
        """``{trimmed lower-case spelling: owner id}`` for ids and aliases."""
        return _alias_map((o.id, o.aliases) for o in self.owners.values())

    def microservice_aliases(self) -> dict[str, str]:
        """``{trimmed lower-case spelling: microservice id}`` for ids and aliases."""
        return _alias_map((m.id, m.aliases) for m in self.microservices.values())

    def resolve_microservice(self, value: str) -> str | None:
        """The registered microservice a tag value names, or None."""
        return self.microservice_aliases().get(value.strip().lower())

    def resolve_owner(self, value: str) -> str | None:
        """The owner a tag value names, or None."""
        return self.owner_aliases().get(value.strip().lower())


def _alias_map(entries: object) -> dict[str, str]:
    out: dict[str, str] = {}
    for ident, aliases in entries:  # type: ignore[attr-defined]
        for spelling in (ident, *aliases):
            out.setdefault(spelling.strip().lower(), ident)
    return out


def _ident(node: YNode, what: str) -> str:
    value = node.text(what)
    if not _ID.match(value):
        raise node.error(
            f"{what} {value!r} is not a valid id",
            "use lower-case letters, digits, '-', '_' or '.', starting with a letter or digit",
        )
    return value


def _one_line(node: YNode, what: str, owner_id: str) -> str:
    """A name that goes into mail headers (``display_name``, ``business_owner``): one line."""
    value = node.text(what)
    bad = next((c for c in value if unicodedata.category(c) in _NOT_IN_HEADERS), None)
    if bad is not None:
        kind = "a line break" if bad in _LINE_BREAKS else "a control character"
        raise node.error(
            f"owner {owner_id!r}: {what} contains {kind} ({bad!r}); it would go into the "
            "digest's mail headers",
            f"write the {what} on one line, without control characters",
        )
    return value


def _emails(node: YNode) -> tuple[str, ...]:
    emails: list[str] = []
    for item in node.sequence() if node.is_sequence else [node]:
        address = item.text("an email address").strip()
        if not _EMAIL.match(address):
            raise item.error(f"bad email address {address!r}", "write it like name@example.com")
        emails.append(address)
    return tuple(emails)


def _budget(node: YNode) -> Decimal:
    budget = node.decimal("a monthly budget in USD")
    if budget < 0:
        raise node.error("a budget cannot be negative", "write 0 or more")
    return budget


def _goals(node: YNode) -> dict[str, Decimal]:
    from costlens.scorecards.registry import KPI_NAMES  # the KPI registry names the goals

    goals = {}
    for name, goal in node.mapping("KPI goals").items():
        if name not in KPI_NAMES:
            raise goal.error(f"unknown KPI {name!r}", f"use one of: {', '.join(KPI_NAMES)}")
        value = goal.decimal(f"a goal for {name}")
        if value < 0:
            raise goal.error(f"the goal of {name} cannot be negative", "write 0 or more")
        goals[name] = value
    return goals


def _owner(node: YNode, log: ErrorLog) -> tuple[Owner | None, list[YNode]]:
    """One entry of ``owners:`` (None when it has errors, each recorded in ``log``) and its
    inline microservices."""
    before = len(log.errors)
    entries = check_keys(node, _OWNER_KEYS, "an owner", log)
    if "id" not in entries:
        raise node.error("owner without an id", "add `id: <owner-id>`")
    owner_id = _ident(entries["id"], "owner id")
    if owner_id == UNALLOCATED:
        raise entries["id"].error(f"{UNALLOCATED!r} is reserved", "choose another id")

    def field_(key: str, parse: Callable[..., T], *args: Any) -> T | None:
        return log.attempt(parse, entries[key], *args) if key in entries else None

    display_name = field_("display_name", _one_line, "display_name", owner_id)
    business_owner = field_("business_owner", _one_line, "business_owner", owner_id)
    emails = field_("email", _emails)
    budget = field_("monthly_budget", _budget)
    goals = field_("kpi_goals", _goals)
    cost_center = field_("cost_center", YNode.text, "a cost center")
    aliases = field_("aliases", YNode.text_list, "a list of aliases")
    inline = log.attempt(entries["microservices"].sequence) if "microservices" in entries else []
    if len(log.errors) > before:
        return None, inline or []
    owner = Owner(
        id=owner_id,
        display_name=display_name or owner_id,
        business_owner=business_owner or "",
        emails=emails or (),
        monthly_budget=budget,
        cost_center=cost_center or "",
        kpi_goals=goals or {},
        aliases=tuple(aliases or ()),
    )
    return owner, inline or []


def _inline_microservice(ms: YNode, owner_id: str) -> tuple[YNode, str, str, tuple[str, ...]]:
    if ms.is_scalar:
        return (ms, _ident(ms, "microservice id"), owner_id, ())
    e = check_keys(ms, _MS_KEYS, "a microservice")
    ident = _ident(e["id"], "microservice id") if "id" in e else ""
    aliases = tuple(e["aliases"].text_list()) if "aliases" in e else ()
    return (ms, ident, owner_id, aliases)


def _listed_microservice(
    node: YNode, owners: Collection[str], described: dict[str, str]
) -> tuple[YNode, str, str, tuple[str, ...]]:
    e = check_keys(node, _MS_KEYS, "a microservice")
    if "id" not in e or "owner" not in e:
        raise node.error("a microservice needs an id and an owner", "add `id:` and `owner:`")
    ident = _ident(e["id"], "microservice id")
    owner_id = e["owner"].text("an owner id")
    if owner_id not in owners:
        raise e["owner"].error(
            f"unknown owner {owner_id!r}", f"use one of: {', '.join(sorted(owners))}"
        )
    if "description" in e:
        described[ident] = e["description"].text()
    return (node, ident, owner_id, tuple(e["aliases"].text_list()) if "aliases" in e else ())


def _register(
    microservices: dict[str, Microservice],
    entry: tuple[YNode, str, str, tuple[str, ...]],
    described: dict[str, str],
) -> None:
    node, ident, owner_id, aliases = entry
    if not ident:
        raise node.error("a microservice needs an id", "add `id:`")
    if ident == UNALLOCATED:
        raise node.error(f"{UNALLOCATED!r} is reserved", "choose another id")
    known = microservices.get(ident)
    if known is not None:
        if known.owner != owner_id:
            raise node.error(
                f"microservice {ident!r} has two owners ({known.owner!r} and {owner_id!r})",
                "keep exactly one owner per microservice",
            )
        raise node.error(f"duplicate microservice {ident!r}", "list it once")
    microservices[ident] = Microservice(ident, owner_id, described.get(ident, ""), aliases)


def parse_owners(text: str, file: str, sha256: str = "") -> OwnersRegistry:
    """Validate the text of an ``owners.yaml`` (see ``load_owners``).

    Every error of the file is reported: one ``RuleError``, or a ``RuleErrors`` listing all.
    """
    log = ErrorLog()
    root = check_keys(parse_yaml_text(text, file), ("owners", "microservices"), "owners.yaml", log)
    if "owners" not in root:
        log.add(RuleError("no `owners:` list", where=file, fix="list the owners (docs/rules.md)"))
    owners: dict[str, Owner] = {}
    seen: set[str] = set()  # owner ids, with those that have errors (no "unknown owner" for them)
    pending: list[tuple[YNode, str, str, tuple[str, ...]]] = []  # node, ms id, owner id, aliases
    listed_owners = (
        log.attempt(root["owners"].sequence, "a list of owners") if "owners" in root else []
    )
    for node in listed_owners or []:
        owner_id = _owner_id(node)
        if owner_id is not None and owner_id in seen:
            log.add(node.error(f"duplicate owner id {owner_id!r}", "give each owner its own id"))
            continue
        seen.add(owner_id or "")
        owner, inline = log.attempt(_owner, node, log) or (None, [])
        if owner is not None:
            owners[owner.id] = owner
        for ms in inline:
            entry = log.attempt(_inline_microservice, ms, owner_id or "")
            if entry is not None:
                pending.append(entry)
    described: dict[str, str] = {}
    listed = log.attempt(root["microservices"].sequence) if "microservices" in root else []
    for node in listed or []:
        entry = log.attempt(_listed_microservice, node, seen - {""}, described)
        if entry is not None:
            pending.append(entry)
    microservices: dict[str, Microservice] = {}
    for entry in pending:
        log.attempt(_register, microservices, entry, described)
    log.raise_if_any(file)
    return OwnersRegistry(owners, microservices, file, sha256)


def _owner_id(node: YNode) -> str | None:
    """The ``id`` of an owner entry as written, if it has one (for the duplicate check)."""
    if not isinstance(node.node, yaml.MappingNode):
        return None
    for key, value in node.node.value:
        if key.value == "id" and isinstance(value, yaml.ScalarNode):
            return str(value.value)
    return None


def load_owners(path: Path | str) -> OwnersRegistry:
    """Load and validate ``owners.yaml``; errors name the file and line and say how to fix them."""
    data = read_file(Path(path))
    text = data.decode("utf-8", errors="replace")
    return parse_owners(text, str(path), hashlib.sha256(data).hexdigest())
