"""rules.yaml / owners.yaml loading: every invalid shape gives its message with file and line."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from costlens.attribution import load_owners, load_rules, parse_owners, parse_rules
from costlens.attribution._yaml import RuleErrors, parse_yaml_text
from costlens.attribution.conditions import CONDITION_KINDS, parse_condition
from costlens.errors import RuleError

OWNERS = """\
owners:
  - id: payments
    display_name: Payments
    business_owner: Amara Okafor
    email: [amara@example.com, pay-team@example.com]
    monthly_budget: 42000.10
    cost_center: CC-1010
    kpi_goals: {spot_coverage: 0.40}
    aliases: [payments-team]
    microservices: [payments-api, {id: refunds, aliases: [refund]}]
  - id: checkout
    email: jonas@example.com
microservices:
  - {id: cart, owner: checkout}
"""


@pytest.fixture
def owners():  # type: ignore[no-untyped-def]
    return parse_owners(OWNERS, "owners.yaml")


def test_owners_model_exact_values(owners) -> None:  # type: ignore[no-untyped-def]
    pay = owners.owner("payments")
    assert pay.monthly_budget == Decimal("42000.10")
    thousands = parse_owners("owners:\n  - id: a\n    monthly_budget: 12,000.50\n", "o.yaml")
    assert thousands.owner("a").monthly_budget == Decimal("12000.50")
    assert pay.emails == ("amara@example.com", "pay-team@example.com")
    assert pay.email == "amara@example.com"
    assert pay.kpi_goals == {"spot_coverage": Decimal("0.40")}
    assert pay.cost_center == "CC-1010" and pay.business_owner == "Amara Okafor"
    assert owners.owner("checkout").display_name == "checkout"
    assert owners.owner("checkout").monthly_budget is None
    assert owners.owner_of("cart") == "checkout"
    assert owners.owner_of("refunds") == "payments"
    assert owners.resolve_microservice(" REFUND ") == "refunds"
    assert owners.resolve_owner("Payments-Team") == "payments"


def test_load_owners_from_file_hashes_bytes(tmp_path: Path) -> None:
    p = tmp_path / "owners.yaml"
    p.write_text(OWNERS)
    reg = load_owners(p)
    import hashlib

    assert reg.sha256 == hashlib.sha256(OWNERS.encode()).hexdigest()
    assert reg.path == str(p)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("owners:\n  - id: a\n  - id: a\n", 3, "duplicate owner id 'a'"),
        ("owners:\n  - id: a\n    email: not-an-email\n", 3, "bad email address 'not-an-email'"),
        ("owners:\n  - id: a\nmicroservices:\n  - {id: x, owner: b}\n", 4, "unknown owner 'b'"),
        (
            "owners:\n  - id: a\n    microservices: [x]\n  - id: b\nmicroservices:\n"
            "  - {id: x, owner: b}\n",
            6,
            "microservice 'x' has two owners ('a' and 'b')",
        ),
        ("owners:\n  - id: a\n    budget: 3\n", 3, "unknown key 'budget' in an owner"),
        ("owners:\n  - id: a\n    monthly_budget: lots\n", 3, "expected a monthly budget"),
        (
            "owners:\n  - id: a\n    monthly_budget: 1234,50\n",  # read as 123450 before
            3,
            "got '1234,50': a comma only separates thousands",
        ),
        ("owners:\n  - id: Bad Id\n", 2, "owner id 'Bad Id' is not a valid id"),
        ("owners:\n  - id: unallocated\n", 2, "'unallocated' is reserved"),
        ("owners:\n  - id: a\n  - id: b: c\n", 3, "not valid YAML"),
    ],
)
def test_invalid_owners_name_file_and_line(text: str, line: int, message: str) -> None:
    with pytest.raises(RuleError) as err:
        parse_owners(text, "owners.yaml")
    assert err.value.where == f"owners.yaml:{line}"
    assert message in err.value.message
    assert err.value.fix


RULES_OK = """\
dimensions: [environment, cost_center]
defaults: {environment: unknown}
normalize: {aliases: {"payments team": payments}}
rules:
  - name: app
    match: {tag: {key: app | App | service, present: true}}
    set: {microservice: "{tag:app | App | service}", environment: "{tag:env}"}
  - name: team
    match: {not: {account_name: {glob: "*sandbox*"}}}
    set: {owner: "{tag:team|Team|owner}"}
  - name: data-account
    match: {any: [{account: "303"}, {account_name: northwind-data}]}
    set: {owner: payments}
shared:
  - name: support
    match: {service: AWSSupportEnterprise}
    by: proportional
    cost_column: unblended_cost
  - name: nat
    match: {operation: NatGateway}
    to: [payments, checkout]
    by: fixed
    weights: {payments: 3, checkout: 1.5}
"""


def test_valid_rules_parse_to_typed_rule_set(owners) -> None:  # type: ignore[no-untyped-def]
    rs = parse_rules(RULES_OK, "rules.yaml", owners)
    assert [r.name for r in rs.rules] == ["app", "team", "data-account"]
    assert rs.dimensions == ("environment", "cost_center")
    assert rs.defaults == {"environment": "unknown"}
    assert [r.basis for r in rs.rules] == ["tag", "tag", "rule"]
    assert rs.rules[0].where == "rules.yaml:5"
    assert rs.tag_keys() == {"app", "service", "env", "team", "owner"}
    assert rs.columns() == {"account_name", "account_id", "service_code", "operation"}
    support, nat = rs.splits
    assert support.targets == ("checkout", "payments") and support.cost_column == "unblended_cost"
    assert nat.weights == {"payments": Decimal("3"), "checkout": Decimal("1.5")}
    assert rs.rules[1].normalize.apply(" Payments Team ") == "payments"


def test_version_changes_with_either_file(tmp_path: Path, owners) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "o.yaml").write_text(OWNERS)
    (tmp_path / "r.yaml").write_text(RULES_OK)
    v1 = load_rules(tmp_path / "r.yaml", load_owners(tmp_path / "o.yaml")).version
    (tmp_path / "o.yaml").write_text(OWNERS + "  - {id: refunds2, owner: payments}\n")
    v2 = load_rules(tmp_path / "r.yaml", load_owners(tmp_path / "o.yaml")).version
    (tmp_path / "r.yaml").write_text(RULES_OK + "\n")
    v3 = load_rules(tmp_path / "r.yaml", load_owners(tmp_path / "o.yaml")).version
    assert len({v1, v2, v3}) == 3 and all(len(v) == 16 for v in (v1, v2, v3))


@pytest.mark.parametrize(
    ("text", "line", "message", "fix_part"),
    [
        (
            "rules:\n  - name: a\n    match: {tags: x}\n    set: {owner: payments}\n",
            3,
            "unknown condition kind 'tags'",
            "tag, all, any, not",
        ),
        (
            "rules:\n  - name: a\n    set: {team: x}\n",
            3,
            "sets unknown dimension 'team'",
            "microservice, owner",
        ),
        (
            "rules:\n  - name: a\n    set: {owner: nobody}\n",
            3,
            "unknown owner 'nobody'",
            "checkout",
        ),
        (
            "rules:\n  - name: a\n    set: {microservice: ghost}\n",
            3,
            "unknown microservice 'ghost'",
            "owners.yaml",
        ),
        (
            "rules:\n  - name: a\n    set: {owner: payments}\n"
            "  - name: a\n    set: {owner: payments}\n",
            4,
            "duplicate rule name 'a'",
            "",
        ),
        (
            "rules:\n  - name: a\n    match: {resource: {regex: '(['}}\n"
            "    set: {owner: payments}\n",
            3,
            "invalid regular expression",
            "RE2",
        ),
        (
            "rules:\n  - name: a\n    set: {microservice: '{account}'}\n",
            3,
            "unknown value source {account}",
            "{account_name}",
        ),
        (
            "rules:\n  - name: a\n    set: {owner: payments}\n    when: x\n",
            4,
            "unknown key 'when' in a rule",
            "match",
        ),
        (
            "rules:\n  - name: a\n    match: {service: {equals: a, in: [b]}}\n"
            "    set: {owner: payments}\n",
            3,
            "expected exactly one of",
            "",
        ),
        (
            "shared:\n  - name: s\n    match: {service: X}\n    by: weighted\n",
            4,
            "unknown split method 'weighted'",
            "proportional, even, fixed",
        ),
        (
            "shared:\n  - name: s\n    match: {service: X}\n    by: even\n"
            "    to: [payments, zed]\n",
            5,
            "unknown owner 'zed'",
            "all",
        ),
        (
            "shared:\n  - name: s\n    match: {service: X}\n    by: fixed\n"
            "    to: [payments, checkout]\n"
            "    weights: {payments: 1}\n",
            6,
            "weights must cover exactly its targets",
            "checkout",
        ),
        (
            "shared:\n  - name: s\n    match: {service: X}\n    by: even\n    cost_column: cost\n",
            5,
            "unknown cost column 'cost'",
            "amortized_cost",
        ),
        ("dimensions: [owner, rule]\n", 1, "reserved or repeated dimension name 'rule'", ""),
        ("rulez: []\n", 1, "unknown key 'rulez'", "rules"),
        (
            "rules:\n  - name: a\n    set: {owner: payments}\n    set: {owner: checkout}\n",
            4,
            "duplicate key 'set'",
            "",
        ),
    ],
)
def test_invalid_rules_name_file_and_line(  # type: ignore[no-untyped-def]
    owners, text: str, line: int, message: str, fix_part: str
) -> None:
    with pytest.raises(RuleError) as err:
        parse_rules(text, "rules.yaml", owners)
    assert err.value.where == f"rules.yaml:{line}", str(err.value)
    assert message in err.value.message, str(err.value)
    assert fix_part in (err.value.fix or "")


def test_whole_file_validated_before_running(owners) -> None:  # type: ignore[no-untyped-def]
    # The error is in the last rule: nothing is returned for the valid first ones.
    text = "rules:\n  - name: ok\n    set: {owner: payments}\n  - name: bad\n    set: {owner: x}\n"
    with pytest.raises(RuleError, match=r"rules.yaml:5: unknown owner 'x'"):
        parse_rules(text, "rules.yaml", owners)


def test_missing_file_is_a_rule_error(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="cannot read the file"):
        load_owners(tmp_path / "nope.yaml")


@pytest.mark.parametrize("kind", sorted(CONDITION_KINDS))
def test_every_condition_kind_documents_a_parsable_example(kind: str) -> None:
    doc = CONDITION_KINDS[kind].doc
    assert "Example::" in doc
    example = doc.split("Example::", 1)[1].strip()
    assert example.startswith(f"{kind}:")
    cond = parse_condition(parse_yaml_text(example, "doc"))
    assert cond.describe()


@pytest.mark.parametrize(
    ("field", "written", "kind"),
    [
        ("display_name", '"Pay\\rments"', "a line break ('\\r')"),
        ("display_name", '"Payments\\nBcc: all@example.com"', "a line break ('\\n')"),
        ("display_name", "|\n      Payments\n      Team", "a line break ('\\n')"),
        ("business_owner", '"Amara\\u2028Okafor"', "a line break ('\\u2028')"),
        ("business_owner", '"Amara\\tOkafor"', "a control character ('\\t')"),
    ],
)
def test_names_for_mail_headers_refuse_line_breaks(field: str, written: str, kind: str) -> None:
    # Issue 11 (7): the digest puts these names into mail headers.
    text = f"owners:\n  - id: ok\n  - id: payments\n    {field}: {written}\n"
    with pytest.raises(RuleError) as err:
        parse_owners(text, "owners.yaml")
    assert type(err.value) is RuleError  # one error, not a list
    assert err.value.where == "owners.yaml:4"
    assert err.value.message == (
        f"owner 'payments': {field} contains {kind}; it would go into the digest's mail headers"
    )
    assert err.value.fix == f"write the {field} on one line, without control characters"


def test_aliases_differing_only_in_case_are_refused(owners) -> None:  # type: ignore[no-untyped-def]
    text = 'normalize: {aliases: {"Base Load": baseload, "base load ": base}}\nrules: []\n'
    with pytest.raises(RuleError) as err:
        parse_rules(text, "rules.yaml", owners)
    assert err.value.where == "rules.yaml:1"
    assert "aliases 'Base Load' and 'base load ' differ only in case or spaces" in str(err.value)
    # a rule's alias replaces the file's one with the same key
    text = (
        'normalize: {lower: false, aliases: {"Base Load": baseload}}\nrules:\n  - name: r\n'
        '    set: {owner: "{tag:team}"}\n    normalize: {aliases: {"BASE load": base}}\n'
    )
    rule = parse_rules(text, "rules.yaml", owners).rules[0]
    assert rule.normalize.aliases == {"BASE load": "base"}
    assert rule.normalize.apply(" base LOAD ") == "base"
    assert rule.normalize.apply(" Peak ") == "Peak"


THREE_ERRORS = """\
rules:
  - name: a
    match: {tags: x}
    set: {owner: payments}
  - name: b
    set: {owner: nobody}
shared:
  - name: s
    match: {service: X}
    by: weighted
"""


def test_every_error_of_a_rules_file_is_reported(owners) -> None:  # type: ignore[no-untyped-def]
    # Issue 11 (6): `rules check` used to stop at the first one.
    with pytest.raises(RuleErrors) as err:
        parse_rules(THREE_ERRORS, "rules.yaml", owners)
    assert [(e.where, e.message) for e in err.value.errors] == [
        ("rules.yaml:3", "unknown condition kind 'tags'"),
        ("rules.yaml:6", "unknown owner 'nobody'"),
        ("rules.yaml:10", "unknown split method 'weighted'"),
    ]
    assert all(e.fix for e in err.value.errors)
    lines = str(err.value).splitlines()
    assert lines[0] == "rules.yaml: 3 errors. Fix: correct each one listed below"
    assert lines[1].startswith("  rules.yaml:3: unknown condition kind 'tags'. Fix: use one of:")
    assert len(lines) == 4
    js = err.value.as_json()["error"]
    assert [e["where"] for e in js["errors"]] == ["rules.yaml:3", "rules.yaml:6", "rules.yaml:10"]
    # and within one rule, each of its values is checked
    two = "rules:\n  - name: b\n    set: {owner: nobody, colour: red}\n"
    with pytest.raises(RuleErrors) as err:
        parse_rules(two, "rules.yaml", owners)
    assert [e.message for e in err.value.errors] == [
        "unknown owner 'nobody'",
        "rule 'b' sets unknown dimension 'colour'",
    ]


def test_every_error_of_an_owners_file_is_reported() -> None:
    text = (
        "owners:\n"
        "  - id: a\n"
        "    email: nope\n"
        "    monthly_budget: -1\n"
        "  - id: a\n"
        "  - id: b\n"
        '    display_name: "B\\r\\nX"\n'
        "microservices:\n"
        "  - {id: m, owner: zed}\n"
    )
    with pytest.raises(RuleErrors) as err:
        parse_owners(text, "owners.yaml")
    assert [(e.where, e.message) for e in err.value.errors] == [
        ("owners.yaml:3", "bad email address 'nope'"),
        ("owners.yaml:4", "a budget cannot be negative"),
        ("owners.yaml:5", "duplicate owner id 'a'"),
        ("owners.yaml:7", "owner 'b': display_name contains a line break ('\\r'); it would go "
                          "into the digest's mail headers"),
        ("owners.yaml:9", "unknown owner 'zed'"),
    ]  # fmt: skip
