"""Accounts as people know them: the name from the bill with the id, "Payments prod
(210987654301)", wherever a page shows an account."""

from __future__ import annotations

import re
from collections.abc import Mapping

from costlens import queries

__all__ = ["ACCOUNT_DIMENSIONS", "account_label", "account_names", "with_account_names"]

ACCOUNT_DIMENSIONS = ("account_id", "payer_account_id")
"""The dimensions whose values are account ids."""


def account_label(names: Mapping[str, str], account_id: object) -> str:
    """``"Name (id)"`` when the bill names the account, else the bare id.

    >>> account_label({"210987654301": "Payments prod"}, "210987654301")
    'Payments prod (210987654301)'
    >>> account_label({}, "123"), account_label({}, None)
    ('123', '')
    """
    if account_id is None:
        return ""
    name = names.get(str(account_id))
    return f"{name} ({account_id})" if name else str(account_id)


def account_names(snap: queries.Snapshot) -> dict[str, str]:
    """``queries.account_names``: ``{account_id: name}`` of the open snapshot."""
    return queries.account_names(snap)


def with_account_names(names: Mapping[str, str], text: object) -> object:
    """``text`` (a driver, an "also seen on" list) with each account id named; not text: as is.

    >>> with_account_names({"210987654301": "Payments prod"}, "AWSLambda · 210987654301")
    'AWSLambda · Payments prod (210987654301)'
    >>> with_account_names({"2109": "p"}, "arn:aws:lambda:us-east-1:2109:function:f")
    'arn:aws:lambda:us-east-1:2109:function:f'
    >>> with_account_names({"1": "x"}, None) is None
    True
    """
    if not isinstance(text, str) or not names:
        return text
    ids = "|".join(re.escape(a) for a in sorted(names, key=len, reverse=True))
    # A bare id only: not the account field inside an ARN (arn:aws:lambda:us-east-1:2109...:fn).
    return re.sub(rf"(?<![\w:])({ids})(?![\w:])", lambda m: f"{names[m[1]]} ({m[1]})", text)
