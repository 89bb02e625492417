"""A bad ``state_url`` is one ``ConfigError`` naming the setting, never a SQLAlchemy traceback,
and the URL's password never appears in the message."""

from __future__ import annotations

from pathlib import Path

import pytest

from costlens.errors import ConfigError
from costlens.state import create_all, make_engine


def test_unparsable_url_names_the_setting() -> None:
    with pytest.raises(ConfigError) as info:
        make_engine("s3cret-not-a-url")
    assert str(info.value).startswith("state_url (COSTLENS_STATE_URL): not a database URL. Fix:")
    assert "s3cret" not in str(info.value)


def test_missing_driver_says_what_to_install() -> None:
    with pytest.raises(ConfigError) as info:
        make_engine("postgresql+nodriverhere://u:s3cret@127.0.0.1:1/db")
    assert "no database driver for this URL" in str(info.value)
    assert "s3cret" not in str(info.value)


def test_sqlite_folder_that_cannot_be_made(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="cannot create the state database's folder"):
        make_engine(f"sqlite:///{blocker}/state.db")


def test_unusable_database_is_named_with_the_reason(tmp_path: Path) -> None:
    not_a_db = tmp_path / "state.db"
    not_a_db.write_bytes(b"this is not an SQLite database file, just text" * 20)
    engine = make_engine(f"sqlite:///{not_a_db}")
    with pytest.raises(ConfigError) as info:
        create_all(engine)
    assert f"cannot use the state database sqlite:///{not_a_db}" in str(info.value)
    assert "file is not a database" in str(info.value)


def test_attribute_with_an_unusable_state_database_leaves_the_warehouse_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The state database is checked before allocations are rewritten, not after."""
    from typer.testing import CliRunner

    from costlens.cli import app
    from costlens.warehouse import open_warehouse

    repo = Path(__file__).resolve().parent.parent
    data_dir = tmp_path / "data"
    with open_warehouse(data_dir):
        pass
    not_a_db = tmp_path / "state.db"
    not_a_db.write_bytes(b"this is not an SQLite database file, just text" * 20)
    monkeypatch.setenv("COSTLENS_DATA_DIR", str(data_dir))
    monkeypatch.setenv("COSTLENS_RULES", str(repo / "data" / "rules.yaml"))
    monkeypatch.setenv("COSTLENS_OWNERS", str(repo / "data" / "owners.yaml"))
    monkeypatch.setenv("COSTLENS_STATE_URL", f"sqlite:///{not_a_db}")
    result = CliRunner().invoke(app, ["attribute"])
    assert isinstance(result.exception, ConfigError)
    assert "cannot use the state database" in str(result.exception)
    with open_warehouse(data_dir) as wh:
        tables = {r[0] for r in wh.con.execute("SHOW TABLES").fetchall()}
    assert "allocations" not in tables
