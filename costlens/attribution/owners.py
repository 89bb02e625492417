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
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from costlens.attribution._yaml import YNode, check_keys, parse_yaml_text, read_file
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


def _owner(node: YNode) -> tuple[Owner, list[YNode]]:
    entries = check_keys(node, _OWNER_KEYS, "an owner")
    if "id" not in entries:
        raise node.error("owner without an id", "add `id: <owner-id>`")
    owner_id = _ident(entries["id"], "owner id")
    if owner_id == UNALLOCATED:
        raise entries["id"].error(f"{UNALLOCATED!r} is reserved", "choose another id")
    emails: list[str] = []
    if "email" in entries:
        for item in (
            entries["email"].sequence() if entries["email"].is_sequence else [entries["email"]]
        ):
            address = item.text("an email address").strip()
            if not _EMAIL.match(address):
                raise item.error(f"bad email address {address!r}", "write it like name@example.com")
            emails.append(address)
    budget = None
    if "monthly_budget" in entries:
        budget = entries["monthly_budget"].decimal("a monthly budget in USD")
        if budget < 0:
            raise entries["monthly_budget"].error("a budget cannot be negative", "write 0 or more")
    goals: dict[str, Decimal] = {}
    if "kpi_goals" in entries:
        for name, goal in entries["kpi_goals"].mapping("KPI goals").items():
            goals[name] = goal.decimal(f"a goal for {name}")
    owner = Owner(
        id=owner_id,
        display_name=entries["display_name"].text() if "display_name" in entries else owner_id,
        business_owner=entries["business_owner"].text() if "business_owner" in entries else "",
        emails=tuple(emails),
        monthly_budget=budget,
        cost_center=entries["cost_center"].text() if "cost_center" in entries else "",
        kpi_goals=goals,
        aliases=tuple(entries["aliases"].text_list()) if "aliases" in entries else (),
    )
    inline = entries["microservices"].sequence() if "microservices" in entries else []
    return owner, inline


def parse_owners(text: str, file: str, sha256: str = "") -> OwnersRegistry:
    """Validate the text of an ``owners.yaml`` (see ``load_owners``)."""
    root = check_keys(parse_yaml_text(text, file), ("owners", "microservices"), "owners.yaml")
    if "owners" not in root:
        raise RuleError("no `owners:` list", where=file, fix="list the owners (docs/rules.md)")
    owners: dict[str, Owner] = {}
    pending: list[tuple[YNode, str, str, tuple[str, ...]]] = []  # node, ms id, owner id, aliases
    for node in root["owners"].sequence("a list of owners"):
        owner, inline = _owner(node)
        if owner.id in owners:
            raise node.error(f"duplicate owner id {owner.id!r}", "give each owner its own id")
        owners[owner.id] = owner
        for ms in inline:
            if ms.is_scalar:
                pending.append((ms, _ident(ms, "microservice id"), owner.id, ()))
            else:
                e = check_keys(ms, _MS_KEYS, "a microservice")
                ident = _ident(e["id"], "microservice id") if "id" in e else ""
                aliases = tuple(e["aliases"].text_list()) if "aliases" in e else ()
                pending.append((ms, ident, owner.id, aliases))
    described: dict[str, str] = {}
    for node in root["microservices"].sequence() if "microservices" in root else []:
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
        pending.append(
            (node, ident, owner_id, tuple(e["aliases"].text_list()) if "aliases" in e else ())
        )
    microservices: dict[str, Microservice] = {}
    for node, ident, owner_id, aliases in pending:
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
    return OwnersRegistry(owners, microservices, file, sha256)


def load_owners(path: Path | str) -> OwnersRegistry:
    """Load and validate ``owners.yaml``; errors name the file and line and say how to fix them."""
    data = read_file(Path(path))
    text = data.decode("utf-8", errors="replace")
    return parse_owners(text, str(path), hashlib.sha256(data).hexdigest())
