"""Configuration: one typed settings object, loaded at the edge and passed in.

Values come from, highest priority first: environment variables (``COSTLENS_DATA_DIR``; nested keys
with ``__`` as in ``COSTLENS_MAIL__PORT``), then the TOML file named by ``--config`` or
``COSTLENS_CONFIG`` (else ``./costlens.toml`` when it exists), then the defaults below. Relative
paths in the file are relative to the file's folder; those of an environment variable or a flag
are relative to the current directory. Secrets are never values here: only the
*name* of the environment variable that holds them (``password_env``).
"""

from __future__ import annotations

import contextvars
import os
import re
import tomllib
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from costlens import clock
from costlens.errors import ConfigError

__all__ = [
    "AnomalySettings",
    "DigestSettings",
    "MailSettings",
    "Settings",
    "SourceSettings",
    "load_settings",
]

ENV_PREFIX = "COSTLENS_"
CONFIG_ENV = "COSTLENS_CONFIG"
DEFAULT_CONFIG = "costlens.toml"

_SOURCES_EXAMPLE = (
    f"""{ENV_PREFIX}SOURCES='[{{"name": "cur", "kind": "local", "path": "exports"}}]'"""
)
_FIELD_IN_ERROR = re.compile(r'field "(\w+)"')

_toml_file: contextvars.ContextVar[Path | None] = contextvars.ContextVar("toml", default=None)


class SourceSettings(BaseModel):
    """One place billing exports are delivered to (``[[sources]]``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Name used by `costlens ingest NAME` and in the ledger.")
    kind: Literal["s3", "local"] = Field(description="Where the exports are: s3 or local.")
    bucket: str | None = Field(None, description="S3 bucket (kind s3).")
    prefix: str = Field("", description="S3 key prefix the export was configured with.")
    export: str | None = Field(None, description="CUR 2.0 export name or legacy report name.")
    path: Path | None = Field(None, description="File or folder of exports (kind local).")
    format: Literal["auto", "cur2", "cur1-csv", "cur1-parquet", "focus"] = Field(
        "auto", description="Export format; auto detects it from the columns."
    )
    role_arn: str | None = Field(None, description="IAM role to assume before reading S3.")
    region: str | None = Field(None, description="AWS region of the bucket.")
    profile: str | None = Field(None, description="AWS profile from ~/.aws/config.")

    @model_validator(mode="after")
    def _kind_has_location(self) -> SourceSettings:
        if self.kind == "s3" and not self.bucket:
            raise ValueError(f"source {self.name!r} is kind s3 but has no bucket")
        if self.kind == "local" and self.path is None:
            raise ValueError(f"source {self.name!r} is kind local but has no path")
        return self


class MailSettings(BaseModel):
    """How the weekly digest is sent (``[mail]``)."""

    model_config = ConfigDict(extra="forbid")

    transport: Literal["smtp", "ses"] = Field("smtp", description="smtp or ses.")
    host: str = Field("localhost", description="SMTP server host name.")
    port: int = Field(587, ge=1, le=65535, description="SMTP server port.")
    security: Literal["none", "starttls", "ssl"] = Field(
        "starttls", description="none, starttls or ssl."
    )
    username: str | None = Field(None, description="SMTP user name, if the server needs one.")
    password_env: str = Field(
        "COSTLENS_SMTP_PASSWORD", description="Name of the environment variable with the password."
    )
    sender: str = Field("costlens@example.com", description="From address of the digest.")
    ses_region: str | None = Field(None, description="AWS region for transport ses.")
    ses_endpoint_url: str | None = Field(
        None, description="SES endpoint override (a test server); unset: AWS's endpoint."
    )
    rate_per_second: float = Field(
        5.0, gt=0, description="At most this many messages a second (the server's rate limit)."
    )
    timeout_seconds: float = Field(30.0, gt=0, description="SMTP connect/answer timeout.")


class DigestSettings(BaseModel):
    """Who gets the weekly digest and when (``[digest]``, docs/digest.md)."""

    model_config = ConfigDict(extra="forbid")

    auto: bool = Field(
        False, description="`costlens sync` sends the digests of a week once it is complete."
    )
    leadership: list[str] = Field(
        default_factory=list, description="Recipients of the all-owners ranking (leadership)."
    )
    unsubscribe: str | None = Field(
        None, description="mailto: or https: address for List-Unsubscribe; unset: no header."
    )


class AnomalySettings(BaseModel):
    """How spend is scanned for anomalies (``[anomalies]``, docs/analytics.md)."""

    model_config = ConfigDict(extra="forbid")

    grain: Literal["day", "hour"] = Field(
        "day",
        description="day: the daily scan only. hour: attribution also writes hourly allocations "
        "of the last `hourly_days` days and the refresh scans them per microservice and owner "
        "too, so a runaway cost is raised within hours of a delivery.",
    )
    hourly_days: int = Field(
        21,
        ge=15,
        le=62,
        description="Days of hourly allocations kept with grain = hour (the hourly detector "
        "learns the hours of each weekday over its first two weeks before its first verdict).",
    )

    @property
    def hourly_window(self) -> int | None:
        """Days of hourly allocations attribution writes: ``hourly_days`` with grain = hour."""
        return self.hourly_days if self.grain == "hour" else None


class EngineSettings(BaseModel):
    """Where ``costlens attribute --engine spark`` runs (``[engine]``, docs/scale.md)."""

    model_config = ConfigDict(extra="forbid")

    spark_remote: str | None = Field(
        None,
        description="Spark Connect URL (sc://host:port) of the cluster that reads and attributes "
        "the export. Unset: the session of a `spark-submit`, else a local one.",
    )
    s3_scheme: Literal["s3a", "s3"] = Field(
        "s3a",
        description="How the Spark cluster names S3 objects of an S3 source: s3a (Hadoop's "
        "hadoop-aws connector) or s3 (EMR's).",
    )


class Settings(BaseSettings):
    """Everything costlens is configured with."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    data_dir: Path = Field(
        Path("data/local"),
        description="Folder of warehouse.duckdb, serving.duckdb, state.db and staging/.",
    )
    rules: Path = Field(Path("data/rules.yaml"), description="Attribution rules file.")
    owners: Path = Field(Path("data/owners.yaml"), description="Owners and microservices file.")
    business_metrics: Path | None = Field(
        None,
        description="CSV of business metrics for the unit-cost KPI: owner or microservice, "
        "date, metric, value (docs/scorecards.md). Unset: no unit cost.",
    )
    dashboard_url: str = Field("http://localhost:8501", description="Link used in digests.")
    state_url: str | None = Field(
        None, description="SQLAlchemy URL of the state database; default sqlite in data_dir."
    )
    sources: list[SourceSettings] = Field(default_factory=list, description="[[sources]].")
    mail: MailSettings = Field(default_factory=MailSettings, description="[mail].")
    digest: DigestSettings = Field(default_factory=DigestSettings, description="[digest].")
    anomalies: AnomalySettings = Field(default_factory=AnomalySettings, description="[anomalies].")
    engine: EngineSettings = Field(default_factory=EngineSettings, description="[engine].")
    config_file: Path | None = Field(None, description="The file these settings came from.")
    today: date | None = Field(
        None,
        description="The date taken as today (YYYY-MM-DD): it sets the default last month of "
        "`demo` and `generate-sample`. Unset: the machine's clock. Pin it for a reproducible demo.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = _toml_file.get()
        if toml is None:
            return (init_settings, env_settings)
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml))

    @property
    def warehouse_path(self) -> Path:
        """``<data_dir>/warehouse.duckdb``: the one database ``costlens sync`` writes."""
        return self.data_dir / "warehouse.duckdb"

    @property
    def serving_path(self) -> Path:
        """``<data_dir>/serving.duckdb``: the read-only snapshot everything else reads."""
        return self.data_dir / "serving.duckdb"

    @property
    def staging_dir(self) -> Path:
        """``<data_dir>/staging``: downloaded export files."""
        return self.data_dir / "staging"

    @property
    def state_database_url(self) -> str:
        """``state_url``, or a SQLite file ``<data_dir>/state.db``."""
        return self.state_url or f"sqlite:///{self.data_dir / 'state.db'}"

    def current_date(self) -> date:
        """``today`` when pinned, else the machine's date (``costlens.clock``)."""
        return self.today or clock.wall_clock_today()

    def source(self, name: str) -> SourceSettings:
        """The configured source called ``name``."""
        for src in self.sources:
            if src.name == name:
                return src
        known = ", ".join(s.name for s in self.sources) or "none configured"
        raise ConfigError(
            f"no source named {name!r}",
            where=str(self.config_file or "configuration"),
            fix=f"use one of: {known}; or pass a path or s3:// URL",
        )


def _find_config(path: Path | str | None, environ: Mapping[str, str]) -> Path | None:
    if path is not None:
        found = Path(path)
    elif environ.get(CONFIG_ENV):
        found = Path(environ[CONFIG_ENV])
    elif Path(DEFAULT_CONFIG).is_file():
        return Path(DEFAULT_CONFIG).resolve()
    else:
        return None
    if not found.is_file():
        raise ConfigError(
            "configuration file not found",
            where=str(found),
            fix=f"create it (see data/costlens.example.toml) or point --config/{CONFIG_ENV} at one",
        )
    return found.resolve()


def _env_name(loc: tuple[str | int, ...]) -> str:
    return ENV_PREFIX + "__".join(str(p).upper() for p in loc)


def _describe(err: ValidationError, config: Path | None, environ: Mapping[str, str]) -> ConfigError:
    first = err.errors()[0]
    loc = tuple(first["loc"])
    key = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in loc).replace(".[", "[")
    env = _env_name(tuple(p for p in loc if isinstance(p, str)))
    nested = sorted(name for name in environ if name.upper().startswith(env + "__"))
    where = f"environment variable {env}" if env in environ else f"{config or 'settings'}: {key}"
    given = first.get("input")
    message = first["msg"]
    if nested and loc == ("sources",):
        # COSTLENS_SOURCES__0__BUCKET: a list cannot be overridden item by item.
        return ConfigError(
            "[[sources]] is a list: it cannot be changed item by item by environment variables",
            where=f"environment variable {nested[0]}",
            fix=f"unset it; give the whole list as JSON in {ENV_PREFIX}SOURCES "
            f"({_SOURCES_EXAMPLE}) or change [[sources]] in the configuration file",
        )
    if first["type"] == "extra_forbidden":
        message = f"unknown key {key!r}"
        fix = "remove it or correct its spelling; valid keys are listed in the README"
    else:
        fix = f"got {given!r}; give a value of the expected form"
    return ConfigError(message, where=where, fix=fix)


def _unparsable(err: SettingsError, environ: Mapping[str, str]) -> ConfigError:
    """An environment variable whose value is not the JSON its field (a list or table) needs."""
    found = _FIELD_IN_ERROR.search(str(err))
    env = _env_name((found.group(1),)) if found else f"{ENV_PREFIX}..."
    named = next((name for name in environ if name.upper() == env), env)
    cause = f" ({err.__cause__})" if err.__cause__ is not None else ""
    if env == f"{ENV_PREFIX}SOURCES":
        fix = f"give the whole list as JSON, e.g. {_SOURCES_EXAMPLE}, or unset it and use "
        fix += "[[sources]] in the configuration file"
    else:
        fix = f"give the whole table as JSON, or unset it and set one key as {env}__KEY"
    return ConfigError(f"not valid JSON{cause}", where=f"environment variable {named}", fix=fix)


def _absolute(settings: Settings, base: Path, from_cwd: set[str]) -> Settings:
    """Relative paths made absolute: those of the file from its folder (``base``), those given
    by an environment variable or an override (``from_cwd``) from the current directory."""

    def rebase(p: Path, key: str = "") -> Path:
        return p if p.is_absolute() else ((Path.cwd() if key in from_cwd else base) / p).resolve()

    updates: dict[str, Any] = {
        "data_dir": rebase(settings.data_dir, "data_dir"),
        "rules": rebase(settings.rules, "rules"),
        "owners": rebase(settings.owners, "owners"),
        "business_metrics": None
        if settings.business_metrics is None
        else rebase(settings.business_metrics, "business_metrics"),
        "sources": [
            s.model_copy(update={"path": rebase(s.path)}) if s.path is not None else s
            for s in settings.sources
        ],
    }
    return settings.model_copy(update=updates)


def load_settings(path: Path | str | None = None, **overrides: Any) -> Settings:
    """Load the settings from ``path`` (or ``COSTLENS_CONFIG``, or ``./costlens.toml``).

    ``overrides`` win over everything (used by CLI flags and tests). Raises ``ConfigError`` naming
    the key (or environment variable) and the expected form.
    """
    env = os.environ
    config = _find_config(path, env)
    if config is not None:
        try:
            with config.open("rb") as fh:
                tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                f"not valid TOML ({exc})", where=str(config), fix="correct the syntax there"
            ) from exc
    token = _toml_file.set(config)
    try:
        settings = Settings(**overrides, config_file=config)
    except ValidationError as exc:
        raise _describe(exc, config, env) from None
    except SettingsError as exc:  # COSTLENS_SOURCES='notjson'
        raise _unparsable(exc, env) from None
    finally:
        _toml_file.reset(token)
    given = {name.upper() for name in env}
    from_cwd = {
        key
        for key in ("data_dir", "rules", "owners", "business_metrics")
        if key in overrides or f"{ENV_PREFIX}{key.upper()}" in given
    }
    return _absolute(settings, config.parent if config else Path.cwd(), from_cwd)
