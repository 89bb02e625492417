"""Tag-key normalization of ASCII keys: the rule AWS's Athena columns follow, as it always was.

Rule 2 (``costlens.tags``, every script) gives ASCII keys the names rule 1 gave them; the only
ASCII change is that a key without a letter or digit is no longer ``''``. Unicode keys and
collisions: ``tests/test_tag_keys_unicode.py``.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costlens.tags import legacy_tag_key, normalize_tag_key

EXAMPLES = [
    ("user:CostCenter", "cost_center"),
    ("aws:createdBy", "aws_created_by"),
    ("user:Name", "name"),
    (" org", "org"),
    ("Cost Center", "cost_center"),
    ("team-name", "team_name"),
    ("user:user:x", "user_x"),
    ("app.kubernetes.io/name", "app_kubernetes_io_name"),
    ("ReservationARN", "reservation_a_r_n"),
    ("user:TEAM", "t_e_a_m"),
    ("EC2Instance", "e_c2_instance"),
]


@pytest.mark.parametrize(("raw", "expected"), EXAMPLES)
def test_normalize_tag_key_examples(raw: str, expected: str) -> None:
    assert normalize_tag_key(raw) == expected
    assert legacy_tag_key(raw) == expected


_ASCII = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=20)


@settings(max_examples=300, deadline=None)
@given(_ASCII)
def test_ascii_keys_keep_their_names(raw: str) -> None:
    old = legacy_tag_key(raw)
    if old:
        assert normalize_tag_key(raw) == old
    else:  # no letter or digit: now named after its code points (or '' when blank)
        bare = raw.strip().removeprefix("user:").strip()
        expected = "_".join(["tag", *(f"{ord(c):x}" for c in bare)]) if bare else ""
        assert normalize_tag_key(raw) == expected
