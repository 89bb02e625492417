"""Rules and owners files that are not UTF-8 text give one ``RuleError`` naming the line.

A file saved as UTF-16 (Windows Notepad's "Unicode") or holding a control character used to
escape as a PyYAML ``ReaderError`` traceback instead of a costlens error with a fix.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from costlens.attribution import load_owners, load_rules
from costlens.errors import RuleError

OWNERS = Path(__file__).parent.parent / "data" / "owners.yaml"


def test_rules_saved_as_utf16_is_a_rule_error(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_bytes("version: 1\nrules: []\n".encode("utf-16"))
    with pytest.raises(RuleError) as info:
        load_rules(rules, load_owners(OWNERS))
    assert str(info.value).startswith(f"{rules}:1: not valid YAML text (character #x0000")
    assert str(info.value).endswith("Fix: save the file as UTF-8 text without control characters")


def test_control_character_names_its_line_in_owners(tmp_path: Path) -> None:
    owners = tmp_path / "owners.yaml"
    owners.write_text("owners:\n  team:\n    name: Te\x07am\n")
    with pytest.raises(RuleError, match=r"owners\.yaml:3: not valid YAML text \(character #x0007"):
        load_owners(owners)
