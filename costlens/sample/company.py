# ruff: noqa: E501
"""The fictional company behind the sample exports: accounts, business owners, microservices.

*Northwind Outfitters* (an online outdoor-gear retailer) runs about 40 microservices for 10
business owners in 6 AWS accounts under one payer. This module is plain typed data, the single
source of truth both for the sample generator and for whoever writes the attribution rules
(``data/rules.yaml``, ``data/owners.yaml``): every tag key and value the generator writes is listed
here, with its messy variants, so rules can be written against it without reading the generator.

How the generator uses it (stable contract):

- Each microservice runs its ``workloads`` in its ``accounts``; every resource of it carries one
  of its ``tag_variants`` (chosen per resource, weighted by ``share``), except whole resources
  chosen by cost so that ``UNTAGGED_SHARE`` of the usage spend carries no tags at all, most of it
  in ``ACCOUNT_ATTRIBUTED`` accounts (at most ``UNATTRIBUTABLE_SHARE`` elsewhere).
- Tag keys are written as shown, with the prefix each format uses for user-defined tags: CUR 2.0
  ``resource_tags`` map key ``user_team``, legacy CSV column ``resourceTags/user:team``, legacy
  Parquet column ``resource_tags_user_team``, FOCUS ``Tags`` key ``user:team``. Values are written
  exactly as shown, trailing spaces and capitals included.
- Shared costs carry no microservice tag: the shared EKS cluster's nodes (``SHARED_EKS_CLUSTER``,
  tagged ``eks:cluster-name`` + ``team=platform``), the NAT gateways and inter-AZ data transfer in
  ``shared-services``, Enterprise Support (``AWSSupportEnterprise``, on the payer account) and tax.
- ``RETIRED_MICROSERVICE`` stops a third of the way through the history, ``NEW_MICROSERVICE``
  starts two thirds of the way through and ramps up.
- A microservice's ``ec2_fleet`` (``EC2_FLEETS``) and ``s3_classes`` (``S3_CLASSES``) decide
  what its instances, volumes and buckets are (previous-generation Intel, Graviton, AMD; S3
  Standard with lifecycle rules or Intelligent-Tiering): what the owners' efficiency scorecards
  grade. They rename products but never change an amount (docs/sample-data.md, "Efficiency").

>>> len(ACCOUNTS), len(OWNERS), len(MICROSERVICES)
(6, 10, 40)
>>> PAYER_ACCOUNT.account_id
'210987654300'
>>> microservice("payments-api").owner
'payments'
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

__all__ = [
    "ACCOUNTS",
    "ACCOUNT_ATTRIBUTED",
    "COMPANY_NAME",
    "EC2_FLEETS",
    "MICROSERVICES",
    "NEW_MICROSERVICE",
    "NEW_MICROSERVICE_USD_PER_DAY",
    "OWNERS",
    "PAYER_ACCOUNT",
    "RETIRED_MICROSERVICE",
    "S3_CLASSES",
    "SHARED_EKS_CLUSTER",
    "UNATTRIBUTABLE_SHARE",
    "UNTAGGED_SHARE",
    "WORKLOADS",
    "Account",
    "Microservice",
    "Owner",
    "TagVariant",
    "account",
    "microservice",
    "owner",
]

COMPANY_NAME = "Northwind Outfitters"

UNTAGGED_SHARE = 0.15
"""Share of the company's usage spend (expected cost) on lines that carry no tags at all: the
shared network (NAT gateways, data transfer) plus whole resources chosen by cost."""

UNATTRIBUTABLE_SHARE = 0.02
"""At most this share of usage spend is untagged in accounts no shipped rule attributes (prod,
staging): what ``data/rules.yaml`` leaves ``unallocated``."""

ACCOUNT_ATTRIBUTED: tuple[str, ...] = (
    "northwind-data",
    "northwind-shared-services",
    "northwind-sandbox",
)
"""Accounts whose untagged spend ``data/rules.yaml`` attributes by account (owner or microservice)."""

NEW_MICROSERVICE_USD_PER_DAY = 450.0
"""Daily cost of ``NEW_MICROSERVICE`` at full size, at scale 1 (proportional to the scale)."""

SHARED_EKS_CLUSTER = "platform-eks"
"""Name of the shared EKS cluster; its EC2 nodes carry ``eks:cluster-name`` = this name."""


@dataclass(frozen=True)
class Account:
    """An AWS account of the organization."""

    account_id: str
    """12-digit account id."""
    name: str
    """Account name as AWS Organizations shows it (``line_item_usage_account_name``)."""
    environment: str
    """prod, staging, dev, sandbox or shared."""
    is_payer: bool = False


@dataclass(frozen=True)
class Owner:
    """A business owner: the team responsible for the cost efficiency of its microservices."""

    owner_id: str
    """Stable id, lower-case, as the canonical ``team`` tag value."""
    display_name: str
    person: str
    """The business owner's name (the person who receives the digest)."""
    email: str
    cost_center: str
    monthly_budget_usd: Decimal


@dataclass(frozen=True)
class TagVariant:
    """One way a microservice's resources are tagged, and the share of resources tagged so."""

    tags: tuple[tuple[str, str], ...]
    """(key, value) pairs exactly as written on the resource (keys without ``user:``)."""
    share: float


@dataclass(frozen=True)
class Microservice:
    """A microservice, its owner, where it runs and how it is tagged."""

    name: str
    """Canonical id, as the canonical ``app`` tag value."""
    owner: str
    """``Owner.owner_id``."""
    accounts: tuple[str, ...]
    """Account names (``Account.name``) it runs in; spend is split across them, first largest."""
    workloads: tuple[str, ...]
    """Kinds of resources it uses, keys of ``WORKLOADS``."""
    tag_variants: tuple[TagVariant, ...]
    weight: float = 1.0
    """Relative size: the number of resources it gets, relative to the other microservices."""
    ec2_fleet: str = "mixed"
    """How its on-demand EC2 instances are chosen, a key of ``EC2_FLEETS``."""
    s3_classes: str = "lifecycle"
    """Where its S3 buckets keep their data, a key of ``S3_CLASSES``."""


WORKLOADS: dict[str, str] = {
    "ec2": "EC2 on-demand instances (per EC2_FLEETS), with EBS gp2/gp3",
    "ec2-graviton": "EC2 Graviton instances (m7g/c7g), with EBS gp3",
    "ec2-spot": "EC2 Spot instances (c6i/m6i) for batch work",
    "eks": "pods on the shared EKS cluster (its nodes are shared cost, owned by platform)",
    "rds-postgres": "RDS for PostgreSQL (open-source engine), Multi-AZ",
    "rds-mysql": "RDS for MySQL (open-source engine)",
    "rds-sqlserver": "RDS for SQL Server Standard (commercial engine, license included)",
    "rds-oracle": "RDS for Oracle Standard Edition Two (commercial engine, license included)",
    "lambda": "AWS Lambda requests and GB-seconds",
    "dynamodb": "DynamoDB on-demand read and write request units and storage",
    "s3": "S3 storage (classes per S3_CLASSES) and requests",
    "cloudfront": "CloudFront data transfer out and requests",
    "snapshots": "EBS snapshots",
}

EC2_FLEETS: dict[str, str] = {
    "mixed": "current-generation Intel m6i/c6i, a third previous-generation m4/c4; gp3, some gp2",
    "legacy": "previous-generation Intel only (m4, c4, r3, c3), every volume gp2",
    "graviton": "AWS Graviton only (r6g, c6gn, r7g, m7gd), every volume gp3",
    "amd": "AMD EPYC (m6a, m5a) instead of m6i/c6i, previous-generation m4/c4 left as they are",
}
"""EC2 fleet styles of ``ec2`` workloads (``costlens.sample.catalog.FLEET_RENAMES``)."""

S3_CLASSES: dict[str, str] = {
    "lifecycle": "lifecycle rules: half the bytes in S3 Standard, 30 % Standard-IA, 20 % Glacier",
    "intelligent-tiering": "S3 Intelligent-Tiering: Frequent, Infrequent and Archive Access tiers",
}
"""S3 storage styles (``costlens.sample.catalog.S3_TIERS``); both cost the same per bucket."""


def _tags(*variants: tuple[dict[str, str], float]) -> tuple[TagVariant, ...]:
    return tuple(TagVariant(tuple(tags.items()), share) for tags, share in variants)


def _std(app: str, team: str) -> tuple[TagVariant, ...]:
    """The common mess: mostly canonical keys, some capitalized, some legacy owner/service."""
    return _tags(
        ({"team": team, "app": app, "env": "prod"}, 0.7),
        ({"Team": team.capitalize() + " ", "App": app}, 0.2),
        ({"owner": team, "service": app}, 0.1),
    )


def _clean(app: str, team: str) -> tuple[TagVariant, ...]:
    """A disciplined team: canonical keys only."""
    return _tags(({"team": team, "app": app, "env": "prod"}, 1.0))


ACCOUNTS: tuple[Account, ...] = (
    Account("210987654300", "northwind-payer", "shared", is_payer=True),
    Account("210987654301", "northwind-prod", "prod"),
    Account("210987654302", "northwind-staging", "staging"),
    Account("210987654303", "northwind-data", "prod"),
    Account("210987654304", "northwind-shared-services", "shared"),
    Account("210987654305", "northwind-sandbox", "sandbox"),
)
# The security account is folded into shared-services; six accounts keep the sample readable.

PAYER_ACCOUNT = ACCOUNTS[0]

OWNERS: tuple[Owner, ...] = (
    Owner("payments", "Payments", "Amara Okafor", "amara.okafor@example.com", "CC-1010", Decimal("16000")),
    Owner("checkout", "Checkout", "Jonas Lindqvist", "jonas.lindqvist@example.com", "CC-1020", Decimal("22000")),
    Owner("catalog", "Catalog", "Priya Raman", "priya.raman@example.com", "CC-1030", Decimal("17000")),
    Owner("search", "Search & Discovery", "Diego Herrera", "diego.herrera@example.com", "CC-1040", Decimal("15000")),
    Owner("identity", "Identity", "Mei Tanaka", "mei.tanaka@example.com", "CC-1050", Decimal("9500")),
    Owner("fulfillment", "Fulfillment", "Samuel Osei", "samuel.osei@example.com", "CC-1060", Decimal("14000")),
    Owner("data-platform", "Data Platform", "Elena Petrova", "elena.petrova@example.com", "CC-2010", Decimal("11500")),
    Owner("marketing", "Marketing Tech", "Lucas Moreau", "lucas.moreau@example.com", "CC-3010", Decimal("5000")),
    Owner("platform", "Platform Engineering", "Hannah Weber", "hannah.weber@example.com", "CC-4010", Decimal("7500")),
    Owner("security", "Security", "Omar Haddad", "omar.haddad@example.com", "CC-4020", Decimal("1000")),
)  # fmt: skip

_P, _S, _D, _SS, _SB = (
    "northwind-prod",
    "northwind-staging",
    "northwind-data",
    "northwind-shared-services",
    "northwind-sandbox",
)

MICROSERVICES: tuple[Microservice, ...] = (
    # payments
    Microservice("payments-api", "payments", (_P, _S), ("ec2", "rds-postgres", "s3"), _std("payments-api", "payments"), 2.0),
    Microservice("payments-ledger", "payments", (_P, _S), ("rds-oracle", "ec2", "snapshots"), _std("payments-ledger", "payments"), 1.5),
    Microservice("fraud-scoring", "payments", (_P,), ("ec2-graviton", "dynamodb", "lambda"), _clean("fraud-scoring", "payments"), 1.2),
    Microservice("refunds", "payments", (_P,), ("lambda", "dynamodb"), _std("refunds", "payments"), 0.5),
    # checkout
    Microservice("checkout-web", "checkout", (_P, _S), ("eks", "cloudfront", "s3"), _std("checkout-web", "checkout"), 1.5),
    Microservice("cart", "checkout", (_P, _S), ("eks", "dynamodb"), _std("cart", "checkout"), 1.0),
    Microservice("pricing-engine", "checkout", (_P,), ("ec2", "rds-mysql"), _std("pricing-engine", "checkout"), 1.0),
    Microservice("promotions", "checkout", (_P,), ("lambda", "dynamodb"), _clean("promotions", "checkout"), 0.5),
    # catalog
    Microservice("catalog-api", "catalog", (_P, _S), ("eks", "rds-postgres"), _std("catalog-api", "catalog"), 1.2),
    Microservice("product-images", "catalog", (_P,), ("s3", "cloudfront", "lambda"), _std("product-images", "catalog"), 1.5),
    Microservice("inventory", "catalog", (_P,), ("ec2", "rds-sqlserver"), _std("inventory", "catalog"), 1.2, ec2_fleet="legacy"),
    Microservice("reviews", "catalog", (_P,), ("lambda", "dynamodb", "s3"), _clean("reviews", "catalog"), 0.5),
    # search
    Microservice("search-api", "search", (_P, _S), ("ec2-graviton", "s3"), _std("search-api", "search"), 1.5, s3_classes="intelligent-tiering"),
    Microservice("search-indexer", "search", (_P,), ("ec2-spot", "s3"), _std("search-indexer", "search"), 1.2, s3_classes="intelligent-tiering"),
    Microservice("recommendations", "search", (_P, _D), ("ec2", "dynamodb", "s3"), _std("recommendations", "search"), 1.5, ec2_fleet="graviton", s3_classes="intelligent-tiering"),
    Microservice("autocomplete", "search", (_P,), ("eks", "dynamodb"), _clean("autocomplete", "search"), 0.6),
    # identity
    Microservice("auth", "identity", (_P, _S), ("eks", "rds-postgres"), _std("auth", "identity"), 0.8),
    Microservice("user-profile", "identity", (_P,), ("lambda", "dynamodb"), _std("user-profile", "identity"), 0.6),
    Microservice("sessions", "identity", (_P,), ("ec2-graviton", "dynamodb"), _clean("sessions", "identity"), 0.5),
    # fulfillment
    Microservice("orders", "fulfillment", (_P, _S), ("ec2", "rds-mysql", "s3"), _std("orders", "fulfillment"), 1.4, ec2_fleet="amd"),
    Microservice("shipping", "fulfillment", (_P,), ("eks", "lambda"), _std("shipping", "fulfillment"), 0.8),
    Microservice("warehouse-sync", "fulfillment", (_P,), ("ec2", "snapshots"), _std("warehouse-sync", "fulfillment"), 0.6, ec2_fleet="amd"),
    Microservice("returns", "fulfillment", (_P,), ("lambda", "dynamodb"), _clean("returns", "fulfillment"), 0.4),
    # data-platform
    Microservice("data-lake", "data-platform", (_D,), ("s3", "lambda"), _std("data-lake", "data-platform"), 2.5, s3_classes="intelligent-tiering"),
    Microservice("etl-batch", "data-platform", (_D,), ("ec2-spot", "s3"), _std("etl-batch", "data-platform"), 2.0, s3_classes="intelligent-tiering"),
    Microservice("analytics-warehouse", "data-platform", (_D,), ("ec2", "rds-postgres", "snapshots"), _std("analytics-warehouse", "data-platform"), 2.0),
    Microservice("ml-training", "data-platform", (_D, _SB), ("ec2-spot", "s3"), _std("ml-training", "data-platform"), 1.5, s3_classes="intelligent-tiering"),
    Microservice("event-stream", "data-platform", (_D,), ("ec2-graviton", "dynamodb"), _clean("event-stream", "data-platform"), 1.0),
    # marketing
    Microservice("email-campaigns", "marketing", (_P,), ("lambda", "s3"), _std("email-campaigns", "marketing"), 0.6),
    Microservice("web-analytics", "marketing", (_P, _D), ("ec2", "s3"), _std("web-analytics", "marketing"), 0.8),
    Microservice("cms", "marketing", (_P, _S), ("ec2", "rds-mysql", "cloudfront"), _std("cms", "marketing"), 0.8),
    Microservice("legacy-newsletter", "marketing", (_P,), ("ec2", "rds-mysql"), _std("legacy-newsletter", "marketing"), 0.6, ec2_fleet="legacy"),
    # platform
    Microservice("ci-runners", "platform", (_SS,), ("ec2-spot", "s3"), _std("ci-runners", "platform"), 1.5),
    Microservice("observability", "platform", (_SS,), ("ec2", "s3", "snapshots"), _std("observability", "platform"), 1.5),
    Microservice("service-mesh", "platform", (_P, _S), ("eks",), _clean("service-mesh", "platform"), 0.6),
    Microservice("artifact-registry", "platform", (_SS,), ("s3",), _std("artifact-registry", "platform"), 0.6, s3_classes="intelligent-tiering"),
    Microservice("dev-sandboxes", "platform", (_SB,), ("ec2", "ec2-graviton"), _std("dev-sandboxes", "platform"), 0.8),
    # security
    Microservice("siem", "security", (_SS,), ("ec2", "s3"), _std("siem", "security"), 1.0),
    Microservice("secrets-rotation", "security", (_SS,), ("lambda",), _clean("secrets-rotation", "security"), 0.3),
    Microservice("vuln-scanner", "security", (_SS, _SB), ("ec2-spot", "s3"), _clean("vuln-scanner", "security"), 0.5),
)  # fmt: skip

RETIRED_MICROSERVICE = "legacy-newsletter"
"""Stops a third of the way through the history (its resources disappear)."""

NEW_MICROSERVICE = "checkout-assistant"
"""Starts two thirds of the way through the history and ramps up; not in ``MICROSERVICES`` so
that the owners registry must be updated to catch it (its tags are canonical, owner checkout)."""

NEW_MICROSERVICE_SPEC = Microservice(
    NEW_MICROSERVICE,
    "checkout",
    (_P,),
    ("ec2-graviton", "lambda", "dynamodb"),
    _clean(NEW_MICROSERVICE, "checkout"),
    1.0,
)


def account(name: str) -> Account:
    """The account called ``name``."""
    return next(a for a in ACCOUNTS if a.name == name)


def owner(owner_id: str) -> Owner:
    """The owner with id ``owner_id``."""
    return next(o for o in OWNERS if o.owner_id == owner_id)


def microservice(name: str) -> Microservice:
    """The microservice called ``name`` (including ``NEW_MICROSERVICE``)."""
    return next(m for m in (*MICROSERVICES, NEW_MICROSERVICE_SPEC) if m.name == name)
