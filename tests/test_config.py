from __future__ import annotations

from pathlib import Path

import pytest

from costlens.config import load_settings
from costlens.errors import ConfigError


def _folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings()
    assert s.data_dir == tmp_path / "data" / "local"
    assert s.warehouse_path == tmp_path / "data" / "local" / "warehouse.duckdb"
    assert s.state_database_url == f"sqlite:///{tmp_path / 'data' / 'local' / 'state.db'}"
    assert s.mail.port == 587 and s.sources == []


def test_file_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    cfg = write(
        tmp_path / "costlens.toml",
        'data_dir = "d"\nrules = "r.yaml"\n[[sources]]\nname = "x"\nkind = "local"\npath = "exp"\n'
        '[mail]\nport = 2525\nsecurity = "none"\n',
    )
    s = load_settings(cfg)
    assert s.data_dir == tmp_path / "d"
    assert s.rules == tmp_path / "r.yaml"
    assert s.source("x").path == tmp_path / "exp"
    assert (s.mail.port, s.mail.security) == (2525, "none")


def test_relative_paths_from_variables_and_flags_are_from_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = write(_folder(tmp_path / "conf") / "costlens.toml", 'data_dir = "d"\nowners = "o.yaml"\n')
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    monkeypatch.setenv("COSTLENS_DATA_DIR", "reldata")
    s = load_settings(cfg, rules=Path("r.yaml"))
    assert s.data_dir == tmp_path / "work" / "reldata"  # typed at the shell: from here
    assert s.rules == tmp_path / "work" / "r.yaml"  # a --rules flag: from here too
    assert s.owners == tmp_path / "conf" / "o.yaml"  # in the file: from the file's folder


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = write(tmp_path / "c.toml", 'data_dir = "d"\n[mail]\nport = 2525\n')
    monkeypatch.setenv("COSTLENS_CONFIG", str(cfg))
    monkeypatch.setenv("COSTLENS_DATA_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("COSTLENS_MAIL__PORT", "465")
    s = load_settings()
    assert s.data_dir == tmp_path / "elsewhere"
    assert s.mail.port == 465


def test_bad_value_in_file_names_key(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", '[mail]\nport = "lots"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert f"{cfg}: mail.port" in str(err.value)
    assert "'lots'" in str(err.value)


def test_bad_value_in_environment_names_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COSTLENS_MAIL__PORT", "99999")
    with pytest.raises(ConfigError, match="environment variable COSTLENS_MAIL__PORT"):
        load_settings()


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", 'dat_dir = "d"\n')
    with pytest.raises(ConfigError, match="unknown key 'dat_dir'"):
        load_settings(cfg)


def test_bad_choice_lists_options(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", '[mail]\nsecurity = "tls"\n')
    with pytest.raises(ConfigError, match=r"mail.security.*'none', 'starttls' or 'ssl'"):
        load_settings(cfg)


def test_the_anomaly_grain_and_hourly_days_are_checked(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", '[anomalies]\ngrain = "minute"\n')
    with pytest.raises(ConfigError, match=r"anomalies.grain.*'day' or 'hour'"):
        load_settings(cfg)
    cfg = write(tmp_path / "c.toml", '[anomalies]\ngrain = "hour"\nhourly_days = 7\n')
    with pytest.raises(ConfigError, match=r"anomalies.hourly_days.*15"):
        load_settings(cfg)
    cfg = write(tmp_path / "c.toml", '[anomalies]\ngrain = "hour"\nhourly_days = 28\n')
    assert load_settings(cfg).anomalies.hourly_window == 28
    assert load_settings(write(tmp_path / "d.toml", "")).anomalies.hourly_window is None


def test_invalid_toml(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", "data_dir = \n")
    with pytest.raises(ConfigError, match=r"not valid TOML.*line 1"):
        load_settings(cfg)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_settings(tmp_path / "nope.toml")


def test_s3_source_needs_bucket(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", '[[sources]]\nname = "cur"\nkind = "s3"\n')
    with pytest.raises(ConfigError, match=r"sources\[0\].*no bucket"):
        load_settings(cfg)


def test_unknown_source_lists_known(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", '[[sources]]\nname = "cur"\nkind = "local"\npath = "."\n')
    with pytest.raises(ConfigError, match="use one of: cur"):
        load_settings(cfg).source("focus")


def test_a_sources_variable_is_refused_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = write(tmp_path / "c.toml", '[[sources]]\nname = "x"\nkind = "local"\npath = "e"\n')
    monkeypatch.setenv("COSTLENS_SOURCES__0__BUCKET", "other")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert str(err.value) == (
        "environment variable COSTLENS_SOURCES__0__BUCKET: [[sources]] is a list: it cannot be "
        "changed item by item by environment variables. Fix: unset it; give the whole list as "
        """JSON in COSTLENS_SOURCES (COSTLENS_SOURCES='[{"name": "cur", "kind": "local", """
        """"path": "exports"}]') or change [[sources]] in the configuration file"""
    )


def test_the_whole_sources_list_as_json_replaces_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the refusal above advises works: the list given whole in COSTLENS_SOURCES."""
    cfg = write(tmp_path / "c.toml", '[[sources]]\nname = "x"\nkind = "local"\npath = "e"\n')
    monkeypatch.setenv(
        "COSTLENS_SOURCES", '[{"name": "y", "kind": "s3", "bucket": "b", "prefix": "cur/"}]'
    )
    s = load_settings(cfg)
    assert [(src.name, src.kind, src.bucket, src.prefix) for src in s.sources] == [
        ("y", "s3", "b", "cur/")
    ]


@pytest.mark.parametrize(
    ("value", "cause"),
    [
        ("notjson", "Expecting value: line 1 column 1 (char 0)"),
        ('[{"name":', "Expecting value: line 1 column 10 (char 9)"),
    ],
)
def test_a_sources_variable_that_is_not_json_is_refused_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, cause: str
) -> None:
    cfg = write(tmp_path / "c.toml", '[[sources]]\nname = "x"\nkind = "local"\npath = "e"\n')
    monkeypatch.setenv("COSTLENS_SOURCES", value)
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert str(err.value) == (
        f"environment variable COSTLENS_SOURCES: not valid JSON ({cause}). Fix: give the whole "
        """list as JSON, e.g. COSTLENS_SOURCES='[{"name": "cur", "kind": "local", "path": """
        """"exports"}]', or unset it and use [[sources]] in the configuration file"""
    )


def test_a_mail_variable_that_is_not_json_is_refused_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COSTLENS_MAIL", "smtp.example.com")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert err.value.where == "environment variable COSTLENS_MAIL"
    assert str(err.value).endswith("Fix: give the whole table as JSON, or unset it and set one "
                                   "key as COSTLENS_MAIL__KEY")  # fmt: skip
    monkeypatch.setenv("COSTLENS_MAIL", '{"host": "smtp.example.com", "port": 25}')
    assert (load_settings().mail.host, load_settings().mail.port) == ("smtp.example.com", 25)


def test_the_export_formats_are_one_vocabulary() -> None:
    """The configuration's choices, the ingest formats and the sample's are the same names."""
    import typing

    from costlens.config import SourceSettings
    from costlens.sample import FORMATS as SAMPLE_FORMATS
    from costlens.schema import EXPORT_FORMATS
    from ingest.formats import FORMATS

    annotation = SourceSettings.model_fields["format"].annotation
    assert typing.get_args(annotation) == ("auto", *EXPORT_FORMATS)
    assert tuple(FORMATS) == EXPORT_FORMATS == SAMPLE_FORMATS
