"""Tag-key normalization: one spelling of a tag key whatever export format it came from.

AWS names the Athena columns of legacy CUR tags by putting an underscore before every capital
letter and lower-casing (``user:CostCenter`` → ``resource_tags_user_cost_center``). costlens
keys tags the same way without the ``resource_tags_`` and ``user:`` prefixes, so rules look the
same for every input format. Characters other than letters and digits become ``_``, runs of
``_`` collapse to one, and leading/trailing ``_`` (and surrounding spaces) are dropped.

>>> normalize_tag_key("user:CostCenter")
'cost_center'
>>> normalize_tag_key("aws:createdBy")
'aws_created_by'
>>> normalize_tag_key(" org")
'org'
>>> normalize_tag_key("team-name/Primary")
'team_name_primary'

``tag_key_sql`` is the same function as a DuckDB SQL expression over a key expression:

>>> import duckdb
>>> duckdb.sql("SELECT " + tag_key_sql("'user:CostCenter'")).fetchall()[0][0]
'cost_center'
"""

from __future__ import annotations

import re

__all__ = ["athena_column_name", "normalize_tag_key", "tag_key_sql"]

_USER_PREFIX = re.compile(r"^user:")
_CAPITAL = re.compile(r"([A-Z])")
_OTHER = re.compile(r"[^a-z0-9]+")
_RUNS = re.compile(r"_+")


def athena_column_name(name: str) -> str:
    """Athena-style snake_case of a legacy CUR name (``lineItem/UnblendedCost``).

    >>> athena_column_name("lineItem/UnblendedCost")
    'line_item_unblended_cost'
    >>> athena_column_name("reservation/ReservationARN")
    'reservation_reservation_a_r_n'
    >>> athena_column_name("resourceTags/user:CostCenter")
    'resource_tags_user_cost_center'
    """
    text = _CAPITAL.sub(r"_\1", name.strip()).lower()
    return _RUNS.sub("_", _OTHER.sub("_", text)).strip("_")


def normalize_tag_key(key: str) -> str:
    """The canonical spelling of a tag key (see the module docstring)."""
    return athena_column_name(_USER_PREFIX.sub("", key.strip()))


def tag_key_sql(key_sql: str) -> str:
    """A DuckDB expression normalizing the VARCHAR ``key_sql`` like ``normalize_tag_key``.

    ``key_sql`` must be a trusted SQL expression (a column or lambda variable), never user text.
    """
    dropped = f"regexp_replace(trim({key_sql}), '^user:', '')"
    snake = f"lower(regexp_replace({dropped}, '([A-Z])', '_\\1', 'g'))"
    cleaned = f"regexp_replace(regexp_replace({snake}, '[^a-z0-9]+', '_', 'g'), '_+', '_', 'g')"
    return f"trim({cleaned}, '_')"
