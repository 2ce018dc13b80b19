"""All configuration in one typed place: the TOML file's sections, composed.

Each stage owns its section beside its code (``ingest/config.py``, ``clean/config.py``, ...); this
module joins them into :class:`Settings`, adds the sections that belong to no stage (redaction,
alerts, schedule) and loads the file. Settings come from one TOML file (see
``feedback-pipeline.example.toml``); secrets never live in that file: they come from environment
variables (``FP_*``) or Prefect Secret blocks and are typed as ``SecretStr`` so they are not
printed by accident. Every field has a default that gives the embedded demo set-up: DuckDB file
``warehouse/feedback.duckdb`` and ``outbox/`` in the config file's folder (the working directory
without a config; never the package's folder), the demo data shipped with the package as a file
source, dry-run sinks.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, ValidationError, field_validator, model_validator

from feedback_pipeline.clean.config import CleanConfig
from feedback_pipeline.cluster.config import ClusterConfig, LabelConfig, ThemesConfig
from feedback_pipeline.deliver.config import DeliverConfig, JiraConfig, SlackConfig
from feedback_pipeline.deliver.slack.config import check_sources
from feedback_pipeline.embed.config import DEFAULT_MODEL, DaskConfig, EmbedConfig
from feedback_pipeline.errors import ConfigError
from feedback_pipeline.ingest.accounts import AccountsConfig
from feedback_pipeline.ingest.config import FileSourceConfig, IngestConfig
from feedback_pipeline.ingest.discourse.config import DiscourseSourceConfig
from feedback_pipeline.ingest.github.config import GitHubSourceConfig
from feedback_pipeline.ingest.intercom.config import IntercomSourceConfig
from feedback_pipeline.ingest.slack.config import SlackSourceConfig
from feedback_pipeline.ingest.zendesk.config import ZendeskSourceConfig
from feedback_pipeline.paths import demo_accounts, demo_data
from feedback_pipeline.rank.config import RankConfig, RankWeights, TrendsConfig
from feedback_pipeline.rank.pulse import PulseConfig
from feedback_pipeline.redact import set_extra_patterns
from feedback_pipeline.section import Section
from feedback_pipeline.warehouse.config import DuckDBConfig


class RedactConfig(Section):
    """Extra regexes replaced with ``[redacted]`` in everything that leaves the warehouse."""

    extra_patterns: list[str] = Field(
        default_factory=list, description="Python regexes, e.g. customer ids: 'ACME-\\d+'.")

    @field_validator("extra_patterns")
    @classmethod
    def _compiles(cls, v: list[str]) -> list[str]:
        for pattern in v:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"redact.extra_patterns: {pattern!r} is not a regex: {exc}") \
                    from exc
        return v


class AlertsConfig(Section):
    """Alerts on runs that fail, crash, start late or run too long.

    ``notify_block`` is what guarantees them: ``feedback-pipeline deploy`` (or ``feedback-pipeline
    automations``) creates Prefect Automations that send through that notification block, from
    the Prefect server, even when the run's own process is dead (``flows/automations.py``).
    ``enabled`` adds the optional hand-written hook (``flows/alerts.py``): a Slack bot message
    naming the failed stage, best effort.
    """

    notify_block: str = Field("", description="Prefect notification block the Automations send "
                              "to, as 'block-type/name', e.g. 'slack-webhook/feedback-alerts'; "
                              "empty: no Automations.")
    running_longer_than_minutes: int = Field(
        180, ge=1, description="Alert on a run still Running after this long (keep it below "
        "schedule.timeout_minutes, which stops the run).")
    enabled: bool = False
    channel: str = Field("", description="Channel name ('#data-alerts') or id.")
    token_env: str = Field("FP_SLACK_TOKEN", description="Bot token variable (or the Prefect "
                           "Secret block of the same name in kebab-case).")
    base_url: str = Field("https://slack.com/api/", description="Web API root (emulators).")
    timeout_seconds: int = 10


class ScheduleConfig(Section):
    """The deployment's schedule (``flows/deploy.py``)."""

    cron: str = "0 2 * * *"
    timezone: str = Field("UTC", description="IANA name, e.g. 'Europe/Berlin'.")
    # Runs never overlap (concurrency limit 1); a run that starts while one is running either
    # waits for the slot ("enqueue") or is cancelled at once ("cancel-new").
    overlap: Literal["enqueue", "cancel-new"] = "enqueue"
    # A hung run (a lost Dask cluster, a stuck API) must end Failed and free the one slot.
    timeout_minutes: int = Field(360, ge=1, description="A run still going after this long is "
                                 "stopped and Failed (every run, not only scheduled ones).")


def _source_type(value: Any) -> str:
    # A source without `type` is a file source (configs written before the connectors existed).
    if isinstance(value, dict):
        return str(value.get("type", "file"))
    return str(getattr(value, "type", "file"))


SourceConfig = Annotated[
    Annotated[FileSourceConfig, Tag("file")]
    | Annotated[DiscourseSourceConfig, Tag("discourse")]
    | Annotated[SlackSourceConfig, Tag("slack")]
    | Annotated[GitHubSourceConfig, Tag("github")]
    | Annotated[ZendeskSourceConfig, Tag("zendesk")]
    | Annotated[IntercomSourceConfig, Tag("intercom")],
    Discriminator(_source_type),
]


class Settings(Section):
    warehouse: Path = Path("warehouse") / "feedback.duckdb"
    duckdb: DuckDBConfig = Field(default_factory=DuckDBConfig)
    sources: list[SourceConfig] = Field(
        default_factory=lambda: [FileSourceConfig(
            name="demo", path=demo_data() or Path("demo") / "feedback_demo.jsonl")])
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    accounts: AccountsConfig = Field(default_factory=AccountsConfig)
    clean: CleanConfig = Field(default_factory=CleanConfig)
    embed: EmbedConfig = Field(default_factory=EmbedConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    label: LabelConfig = Field(default_factory=LabelConfig)
    themes: ThemesConfig = Field(default_factory=ThemesConfig)
    trends: TrendsConfig = Field(default_factory=TrendsConfig)
    rank: RankConfig = Field(default_factory=RankConfig)
    deliver: DeliverConfig = Field(default_factory=DeliverConfig)
    redact: RedactConfig = Field(default_factory=RedactConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    pulse: PulseConfig = Field(default_factory=PulseConfig)

    @field_validator("sources")
    @classmethod
    def _unique_source_names(cls, v: list[SourceConfig]) -> list[SourceConfig]:
        names = [s.name for s in v]
        if len(names) != len(set(names)):
            raise ValueError(f"source names must be unique, got {names}")
        return v

    @model_validator(mode="after")
    def _demo_accounts(self) -> Settings:
        # The default (demo) sources come with the demo's accounts; any other set-up has none
        # unless [accounts] names a file.
        if not {"sources", "accounts"} & self.model_fields_set:
            self.accounts = AccountsConfig(path=demo_accounts())
        return self

    @model_validator(mode="after")
    def _digest_sources_exist(self) -> Settings:
        check_sources(self.deliver.slack, [s.name for s in self.sources],
                      file_sources=any(isinstance(s, FileSourceConfig) for s in self.sources))
        return self


def load_settings(path: Path | str | None = None, **overrides: object) -> Settings:
    """Load settings from a TOML file (or defaults), resolving relative paths against the file's
    folder (without a file: the working directory).

    Raises:
        ConfigError: the file is missing, is not TOML, or does not match the schema.
    """
    data: dict = {}
    base = Path.cwd()
    if path is not None:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"config file {path} does not exist") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
        base = path.resolve().parent
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        # Pydantic's own text echoes each offending value ("input_value=..."): a token under a
        # wrong key would be printed. Only where and what, never the value.
        raise ConfigError(f"invalid configuration{f' in {path}' if path else ''}:\n"
                          f"{validation_summary(exc)}") from None
    # Every redact() call (outbox, sinks, CLI, artifacts, logs) applies the configured patterns.
    set_extra_patterns(settings.redact.extra_patterns)
    return _resolve_paths(settings, base)


def validation_summary(exc: ValidationError) -> str:
    """One line per error: the setting's path and what is wrong, without the value given."""
    return "\n".join(
        f"  {'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}"
        for e in exc.errors(include_url=False, include_input=False, include_context=False))


def _resolve_paths(s: Settings, base: Path) -> Settings:
    def r(p: Path) -> Path:
        return p if p.is_absolute() else (base / p).resolve()

    s.warehouse = r(s.warehouse)
    s.deliver.outbox = r(s.deliver.outbox)
    for src in s.sources:
        if isinstance(src, FileSourceConfig):
            src.path = r(src.path)
    if s.accounts.path is not None:
        s.accounts.path = r(s.accounts.path)
    if s.embed.cache_folder is not None:
        s.embed.cache_folder = r(s.embed.cache_folder)
    if s.embed.onnx_folder is not None:
        s.embed.onnx_folder = r(s.embed.onnx_folder)
    return s


__all__ = [
    "DEFAULT_MODEL", "AccountsConfig", "AlertsConfig", "CleanConfig", "ClusterConfig", "DaskConfig",
    "DeliverConfig", "DiscourseSourceConfig", "EmbedConfig", "FileSourceConfig",
    "GitHubSourceConfig", "IngestConfig", "IntercomSourceConfig", "JiraConfig", "LabelConfig",
    "RankConfig", "RankWeights", "RedactConfig", "ScheduleConfig", "Settings", "SlackConfig",
    "SlackSourceConfig", "SourceConfig", "ThemesConfig", "TrendsConfig", "ZendeskSourceConfig",
    "load_settings",
]
