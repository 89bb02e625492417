"""Runs the doctests in the packages' docstrings."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import costlens


def _modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(costlens.__path__, "costlens."):
        if not info.name.endswith("__main__"):
            names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_doctests(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_core_never_imports_boto3_or_streamlit() -> None:
    import subprocess
    import sys

    code = (
        "import sys, pkgutil, importlib, costlens\n"
        "for m in pkgutil.walk_packages(costlens.__path__, 'costlens.'):\n"
        "    if not m.name.endswith('__main__'): importlib.import_module(m.name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'boto3', 'botocore',"
        " 'streamlit', 'ingest', 'reports', 'pyspark'})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
