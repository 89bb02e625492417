"""Recording which rule set produced the allocations, in the state database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from costlens.attribution.rules import RuleSet
from costlens.state import RuleSetVersion, create_all, make_engine, session_factory

__all__ = ["ensure_state_database", "record_rule_set_version"]


def ensure_state_database(state_url: str) -> None:
    """Check the state database is usable (creating its tables) before anything is rewritten.

    Attribution records its rule-set version there after committing ``allocations``; checking
    first means a bad ``state_url`` stops the run with the warehouse untouched.
    """
    engine = make_engine(state_url)
    try:
        create_all(engine)
    finally:
        engine.dispose()


def record_rule_set_version(
    state_url: str, rules: RuleSet, *, periods: Sequence[date] | None, rows: int
) -> RuleSetVersion:
    """Insert a ``RuleSetVersion`` row (hashes, file paths, time, periods) and return it."""
    engine = make_engine(state_url)
    try:
        create_all(engine)
        with session_factory(engine)() as session:
            row = RuleSetVersion(
                version=rules.version,
                rules_sha256=rules.sha256,
                owners_sha256=rules.owners.sha256,
                rules_path=rules.path,
                owners_path=rules.owners.path,
                periods="all" if periods is None else ",".join(str(p) for p in periods),
                rows=rows,
            )
            session.add(row)
            session.commit()
            return row
    finally:
        engine.dispose()
