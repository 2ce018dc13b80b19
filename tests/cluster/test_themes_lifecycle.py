"""Themes across nights on synthetic vectors: identity, lineage, incremental path, corrections,
trends. Vectors are written straight into the warehouse, so no model is needed."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from feedback_pipeline import pipeline
from feedback_pipeline.cluster.corrections import (
    CorrectionError,
    merge_themes,
    reject_theme,
    rename_theme,
    split_theme,
)
from feedback_pipeline.cluster.incremental import needs_full_recluster
from feedback_pipeline.config import ClusterConfig, Settings
from feedback_pipeline.embed.stage import save_vectors
from feedback_pipeline.rank.trends import compute_trends, trend_phrase
from feedback_pipeline.warehouse.db import connect, rows_as_dicts
from feedback_pipeline.warehouse.runs import open_run

DIM = 32
AS_OF = datetime(2026, 11, 20, 12, tzinfo=UTC)
WORDS = {
    "export": "export csv download data spreadsheet",
    "login": "login password reset locked account",
    "billing": "invoice billing charge refund payment",
    "mobile": "mobile app crash android iphone",
    "dark": "dark mode theme night colours",
    "api": "api rate limit token webhook",
}


def _center(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=DIM)
    return v / np.linalg.norm(v)


CENTERS = {name: _center(i) for i, name in enumerate(WORDS)}


def _settings(*, multilingual: bool | None = None, **themes) -> Settings:
    themes.setdefault("full_recluster_every_days", 30)
    s = Settings()
    s.cluster = ClusterConfig(reducer="pca", n_components=8, min_cluster_size=8)
    s.embed.model = "synthetic"
    s.label.rerank_titles = False  # no model behind these hand-made vectors
    s.embed.multilingual = multilingual
    for k, v in themes.items():
        setattr(s.themes, k, v)
    return s


class Warehouse:
    """A tiny warehouse whose items carry hand-made vectors."""

    def __init__(self, path: str = ":memory:") -> None:
        self.con = connect(path)
        self.rng = np.random.default_rng(7)
        self.n = 0

    def add(self, blob: str | np.ndarray, count: int, *, days_ago: float = 10.0,
            spread: float = 0.08, kind: str = "support_ticket",
            language: str | None = None) -> list[str]:
        center = CENTERS[blob] if isinstance(blob, str) else blob
        words = WORDS[blob] if isinstance(blob, str) else "misc other thing"
        ids = []
        for _ in range(count):
            self.n += 1
            ext = f"i{self.n}"
            self._put(ext, center, spread, words, AS_OF - timedelta(days=days_ago, minutes=self.n % 60),
                      kind, language)
            ids.append(ext)
        return ids

    def move(self, ids: list[str], center: np.ndarray, words: str = "moved text") -> None:
        """Edit items so their text (and vector) now belongs near ``center``."""
        for ext in ids:
            created = self.con.execute("SELECT created_at FROM items WHERE external_id = ?",
                                       [ext]).fetchone()[0]
            self._put(ext, center, 0.08, words, created, "support_ticket")

    def _put(self, ext, center, spread, words, created, kind, language=None) -> None:
        v = center + self.rng.normal(scale=spread, size=DIM)
        v = (v / np.linalg.norm(v)).astype(np.float32)
        text = f"{words} {ext}"
        h = hashlib.sha256(text.encode()).hexdigest()[:32]
        self.con.execute(
            """
            INSERT INTO items (source, external_id, kind, author_hash, title, body, created_at,
                               updated_at, content_hash, clean_text, clean_hash, text_hash,
                               language)
            VALUES ('s', ?, ?, ?, '', ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (source, external_id) DO UPDATE SET body = excluded.body,
                content_hash = excluded.content_hash, clean_text = excluded.clean_text,
                clean_hash = excluded.clean_hash, text_hash = excluded.text_hash
            """,
            [ext, kind, f"a{self.n % 17}", text, created, created, h, text, h, h, language],
        )
        save_vectors(self.con, "synthetic", [h], v[None, :])

    def night(self, settings: Settings, *, full: bool = False,
              as_of: datetime | None = None) -> dict:
        with open_run(self.con, as_of=as_of or settings.rank.as_of) as run:
            stats = run.stats["cluster"] = pipeline.stage_cluster(run, settings, full=full)
        self.last_run = run.run_id
        return stats

    def theme_of(self, ids: list[str]) -> set[int]:
        return {r[0] for r in self.con.execute(
            "SELECT DISTINCT theme_id FROM item_themes WHERE list_contains(?, external_id)",
            [ids]).fetchall()}

    def events(self, run: str | None = None) -> list[tuple]:
        return self.con.execute(
            "SELECT theme_id, event, other_theme FROM theme_events WHERE run_id = ? "
            "ORDER BY theme_id, event", [run or self.last_run]).fetchall()

    def status(self, theme_id: int) -> str:
        return self.con.execute("SELECT status FROM themes WHERE theme_id = ?",
                                [theme_id]).fetchone()[0]


@pytest.fixture
def wh() -> Warehouse:
    return Warehouse()


def _three_themes(wh: Warehouse) -> dict[str, list[str]]:
    return {name: wh.add(name, 40) for name in ("export", "login", "billing")}


def test_full_recluster_of_unchanged_data_keeps_every_id(wh):
    groups = _three_themes(wh)
    first = wh.night(_settings(), full=True)
    assert first["themes"] == 3 and first["new_themes"] == 3
    ids = {name: wh.theme_of(items) for name, items in groups.items()}
    assert all(len(v) == 1 for v in ids.values())
    again = wh.night(_settings(), full=True)
    assert again["new_themes"] == 0 and again["faded_themes"] == 0
    assert {name: wh.theme_of(items) for name, items in groups.items()} == ids
    assert wh.events() == []


def test_incremental_night_assigns_close_items_and_clusters_the_rest(wh):
    groups = _three_themes(wh)
    wh.night(_settings(), full=True)
    export_theme = wh.theme_of(groups["export"]).pop()
    late_export = wh.add("export", 5, days_ago=1)
    new_topic = wh.add("dark", 20, days_ago=2)
    stats = wh.night(_settings())  # the last full run is recent: incremental
    assert stats["mode"] == "incremental"
    assert stats["pending"] == 25
    assert wh.theme_of(late_export) == {export_theme}
    dark = wh.theme_of(new_topic)
    assert len(dark) == 1 and dark.pop() not in (-1, export_theme)
    assert [e[1] for e in wh.events()] == ["created"]
    methods = dict(wh.con.execute("SELECT external_id, method FROM item_themes").fetchall())
    assert methods[late_export[0]] == "assigned"
    size = wh.con.execute("SELECT size FROM themes WHERE theme_id = ?", [export_theme]).fetchone()[0]
    assert size == 45


def test_incremental_night_with_nothing_new_changes_nothing(wh):
    _three_themes(wh)
    wh.night(_settings(), full=True)
    before = wh.con.execute("SELECT * FROM item_themes ORDER BY external_id").fetchall()
    stats = wh.night(_settings())
    assert stats["mode"] == "incremental" and stats["pending"] == 0
    after = wh.con.execute("SELECT * FROM item_themes ORDER BY external_id").fetchall()
    assert [r[:5] for r in before] == [r[:5] for r in after]


def test_a_rerun_does_not_recluster_recent_noise_on_its_own(wh):
    # Recent noise that could form a theme is looked at again only next to something new:
    # rerunning a night whose data did not change must leave every theme as it was.
    _three_themes(wh)
    wh.night(_settings(), full=True)
    noise = wh.add("dark", 20, days_ago=1)
    wh.con.execute("INSERT INTO item_themes SELECT source, external_id, -1, 0, text_hash, "
                   "'clustered', 'r0' FROM items WHERE list_contains(?, external_id)", [noise])
    themes_before = wh.con.execute("SELECT count(*) FROM themes").fetchone()[0]

    stats = wh.night(_settings())

    assert (stats["mode"], stats["pending"], stats["new_themes"]) == ("incremental", 0, 0)
    assert wh.theme_of(noise) == {-1}
    assert wh.con.execute("SELECT count(*) FROM themes").fetchone()[0] == themes_before
    # Something new arrives: the recent noise is clustered with it and forms a theme.
    wh.add("dark", 5, days_ago=0.5)
    stats = wh.night(_settings())
    assert stats["new_themes"] == 1 and -1 not in wh.theme_of(noise)


@pytest.mark.parametrize("multilingual", [None, True], ids=["english-model", "multilingual-model"])
def test_incremental_night_keeps_a_new_language_off_english_themes(wh, multilingual):
    # A French text right next to an English theme: with an English-only model its vector says
    # little, so it must not join; a multilingual model's vector can be trusted.
    groups = _three_themes(wh)
    wh.night(_settings(multilingual=multilingual), full=True)
    export_theme = wh.theme_of(groups["export"]).pop()
    french = wh.add("export", 1, days_ago=1, spread=0.01, language="fr")

    stats = wh.night(_settings(multilingual=multilingual))

    assert stats["mode"] == "incremental" and stats["pending"] == 1
    if multilingual:
        assert wh.theme_of(french) == {export_theme} and "languages" not in stats
    else:
        assert wh.theme_of(french) == {-1} and stats["languages"] == {"fr": 1}


def test_incremental_night_gives_a_new_language_its_own_theme(wh):
    groups = _three_themes(wh)
    wh.night(_settings(), full=True)
    export_theme = wh.theme_of(groups["export"]).pop()
    french = wh.add("export", 20, days_ago=2, language="fr")

    stats = wh.night(_settings())

    (french_theme,) = wh.theme_of(french)
    assert french_theme not in (-1, export_theme)
    assert (stats["new_themes"], stats["joined_existing"], stats["reclustered"]) == (1, 0, 20)
    assert wh.events() == [(french_theme, "created", None)]
    # The next night the theme counts as French: French look-alikes join it, English ones don't.
    more_french = wh.add("export", 3, days_ago=1, language="fr")
    english = wh.add("export", 3, days_ago=1, language="en")
    wh.night(_settings())
    assert wh.theme_of(more_french) == {french_theme}
    assert wh.theme_of(english) == {export_theme}


def test_incremental_night_still_assigns_english_and_undetermined_items(wh):
    groups = _three_themes(wh)
    wh.night(_settings(), full=True)
    themes = {name: wh.theme_of(items).pop() for name, items in groups.items()}
    late = {name: wh.add(name, 2, days_ago=1, language="en") + wh.add(name, 2, days_ago=1,
                                                                       language="und")
            for name in groups}

    stats = wh.night(_settings())

    assert {name: wh.theme_of(items) for name, items in late.items()} == {
        name: {t} for name, t in themes.items()}
    assert (stats["assigned"], stats["new_themes"], stats["languages"]) == (12, 0, {"en": 12})


def test_full_recluster_is_scheduled_in_data_time(wh):
    _three_themes(wh)
    weekly = _settings(full_recluster_every_days=7)
    wh.night(weekly, full=True, as_of=AS_OF)
    assert wh.night(weekly, as_of=AS_OF + timedelta(days=3))["mode"] == "incremental"
    assert wh.night(weekly, as_of=AS_OF + timedelta(days=6))["mode"] == "incremental"
    assert wh.night(weekly, as_of=AS_OF + timedelta(days=7))["mode"] == "full"
    assert wh.night(weekly, as_of=AS_OF + timedelta(days=8))["mode"] == "incremental"
    assert wh.night(_settings(full_recluster_every_days=0),
                    as_of=AS_OF + timedelta(days=8))["mode"] == "full"


def test_another_embedding_model_forces_a_full_recluster(wh):
    """Stored centroids live in the model's space that made them: after ``embed.model``
    changes, the next night re-clusters in full instead of matching new vectors to them."""
    _three_themes(wh)
    weekly = _settings(full_recluster_every_days=7)
    assert wh.night(weekly, full=True, as_of=AS_OF)["model"] == "synthetic"
    later = AS_OF + timedelta(days=1)
    assert not needs_full_recluster(wh.con, weekly.themes, now=later, model_id="synthetic")
    assert needs_full_recluster(wh.con, weekly.themes, now=later, model_id="another-model")
    # A full run recorded before runs named their model counts as made with the current one.
    wh.con.execute("UPDATE runs SET stats = json_object('cluster', json_object("
                   "'mode', 'full', 'as_of', json_extract_string(stats, '$.cluster.as_of')))")
    assert not needs_full_recluster(wh.con, weekly.themes, now=later, model_id="another-model")


@pytest.mark.parametrize("dim", [64, DIM])
def test_a_new_model_reclusters_in_full_and_keeps_theme_ids_by_members(wh, dim):
    """The night after ``embed.model`` changes (to 64-d vectors against 32-d stored centroids,
    or to another 32-d space) is a full re-cluster whose themes keep their ids by their members,
    not a crash or an incremental night matching new vectors to old centroids."""
    groups = _three_themes(wh)
    wh.night(_settings(), full=True, as_of=AS_OF)
    ids = {name: wh.theme_of(items) for name, items in groups.items()}
    rng = np.random.default_rng(3)
    for items in groups.values():
        centre = rng.normal(size=dim)
        hashes = [h for (h,) in wh.con.execute(
            "SELECT text_hash FROM items WHERE list_contains(?, external_id) ORDER BY external_id",
            [items]).fetchall()]
        V = centre + rng.normal(scale=0.08 * np.linalg.norm(centre), size=(len(hashes), dim))
        save_vectors(wh.con, "synthetic-new", hashes,
                     (V / np.linalg.norm(V, axis=1, keepdims=True)).astype(np.float32))
    other = _settings()
    other.embed.model = "synthetic-new"
    stats = wh.night(other, as_of=AS_OF + timedelta(days=1))
    assert (stats["mode"], stats["model"], stats["new_themes"]) == ("full", "synthetic-new", 0)
    assert {name: wh.theme_of(items) for name, items in groups.items()} == ids
    assert wh.night(other, as_of=AS_OF + timedelta(days=2))["mode"] == "incremental"


def test_a_theme_that_splits_records_split_from(wh):
    groups = _three_themes(wh)
    wh.night(_settings(), full=True)
    export_theme = wh.theme_of(groups["export"]).pop()
    half = groups["export"][20:]
    wh.move(half, CENTERS["mobile"], WORDS["mobile"])  # half of "export" now reads as another topic
    wh.night(_settings(), full=True)
    kept, new = wh.theme_of(groups["export"][:20]), wh.theme_of(half)
    assert kept == {export_theme}
    assert len(new) == 1 and new != kept
    assert (new.pop(), "split_from", export_theme) in wh.events()


def test_two_themes_that_merge_record_merged_into(wh):
    groups = _three_themes(wh)
    wh.night(_settings(), full=True)
    login, billing = wh.theme_of(groups["login"]).pop(), wh.theme_of(groups["billing"]).pop()
    wh.move(groups["billing"], CENTERS["login"], WORDS["login"])
    wh.night(_settings(), full=True)
    survivors = wh.theme_of(groups["login"] + groups["billing"])
    assert len(survivors) == 1
    kept = survivors.pop()
    gone = billing if kept == login else login
    assert (gone, "merged_into", kept) in wh.events()
    assert wh.status(gone) == "merged"


def test_a_theme_with_no_members_fades_and_can_revive(wh):
    groups = _three_themes(wh)
    wh.night(_settings(), full=True)
    billing = wh.theme_of(groups["billing"]).pop()
    # The billing items turn into scattered noise (deleted texts in real life).
    for i, ext in enumerate(groups["billing"]):
        wh.move([ext], _center(1000 + i), f"scattered {i}")
    wh.night(_settings(), full=True)
    assert wh.status(billing) == "faded"
    assert (billing, "faded", None) in wh.events()
    wh.move(groups["billing"], CENTERS["billing"], WORDS["billing"])
    wh.night(_settings(), full=True)
    assert wh.status(billing) == "active"
    assert (billing, "revived", None) in wh.events()


def test_people_corrections_survive_a_full_recluster(wh):
    groups = _three_themes(wh)
    wh.add("api", 40)
    wh.night(_settings(), full=True)
    t = {name: wh.theme_of(items).pop() for name, items in groups.items()}
    rename_theme(wh.con, t["export"], "Export to spreadsheets", by="pm")
    reject_theme(wh.con, t["billing"])
    merge_themes(wh.con, t["login"], t["export"])
    assert wh.theme_of(groups["login"]) == {t["export"]}
    with pytest.raises(CorrectionError, match="no theme 999"):
        reject_theme(wh.con, 999)
    with pytest.raises(CorrectionError, match="itself"):
        merge_themes(wh.con, t["export"], t["export"])

    wh.night(_settings(), full=True)
    assert wh.theme_of(groups["login"]) == {t["export"]}  # look-alikes follow the merge
    assert wh.theme_of(groups["export"]) == {t["export"]}
    title, locked = wh.con.execute("SELECT title, title_locked FROM themes WHERE theme_id = ?",
                                   [t["export"]]).fetchone()
    assert (title, locked) == ("Export to spreadsheets", True)
    assert wh.status(t["billing"]) == "rejected"
    assert wh.status(t["login"]) == "merged"
    decisions = [r[0] for r in wh.con.execute("SELECT action FROM theme_decisions ORDER BY 1").fetchall()]
    assert decisions == ["merge", "reject", "rename"]


@pytest.mark.parametrize("curation", [{}, {"split_share": 0.1, "merge_share": 0.15}],
                         ids=["default", "curation on"])
def test_a_split_by_a_person_is_kept_apart(wh, curation):
    mixed = wh.add("export", 30)
    nearby = wh.add("export", 20)
    wh.move(nearby, CENTERS["export"] * 0.75 + CENTERS["mobile"] * 0.25)  # close, but distinct
    wh.add("login", 40)
    wh.night(_settings(**curation), full=True)
    (both,) = wh.theme_of(mixed + nearby)  # the clustering sees one theme
    new_id = split_theme(wh.con, both, model_id="synthetic", label_config=Settings().label)
    after_split = dict(wh.con.execute("SELECT external_id, theme_id FROM item_themes "
                                      "WHERE list_contains(?, theme_id)", [[both, new_id]]).fetchall())
    assert set(after_split.values()) == {both, new_id}
    assert (new_id, "split_from", both) in wh.events("manual")

    stats = wh.night(_settings(**curation), full=True)
    after_run = dict(wh.con.execute("SELECT external_id, theme_id FROM item_themes "
                                    "WHERE list_contains(?, external_id)",
                                    [list(after_split)]).fetchall())
    agree = sum(after_run[k] == v for k, v in after_split.items()) / len(after_split)
    assert agree >= 0.9  # the re-cluster merged them again; the split divides them the same way
    assert wh.status(new_id) == "active" and wh.status(both) == "active"
    assert stats["merged_themes"] == 0 and stats["new_themes"] == 0


def test_trend_flags(wh):
    steady = wh.add("export", 0)
    for day in range(35):  # two a day for five weeks
        steady += wh.add("export", 2, days_ago=day + 0.25)
    rising = []
    for day in range(35):
        rising += wh.add("login", 6 if day < 7 else (1 if day % 7 == 0 else 0), days_ago=day + 0.25)
    fading = []
    for day in range(7, 35):
        fading += wh.add("billing", 2, days_ago=day + 0.25)
    new = wh.add("dark", 12, days_ago=2)
    wh.night(_settings(), full=True)
    flags = compute_trends(wh.con, Settings().trends, run_id="t", as_of=AS_OF)
    by_group = {name: flags[wh.theme_of(ids).pop()]
                for name, ids in (("steady", steady), ("rising", rising), ("fading", fading),
                                  ("new", new))}
    assert by_group == {"steady": "steady", "rising": "rising", "fading": "fading", "new": "new"}
    recent, baseline = wh.con.execute(
        "SELECT recent_count, baseline FROM theme_trends WHERE theme_id = ?",
        [wh.theme_of(steady).pop()]).fetchone()
    assert (recent, baseline) == (14, 14)
    phrases = {name: trend_phrase(_trend_row(wh, ids)) for name, ids in
               (("steady", steady), ("rising", rising), ("fading", fading), ("new", new))}
    assert phrases == {"steady": "steady: 14 in the last 7 days, usually about 14",
                       "rising": "rising: 42 in the last 7 days, usually about 1",
                       "fading": "fading: 0 in the last 7 days, usually about 14",
                       "new": "new: 12 in the last 7 days"}


def _trend_row(wh, ids) -> dict:
    return rows_as_dicts(wh.con.execute(
        "SELECT flag AS trend, recent_count AS trend_recent, baseline AS trend_baseline, "
        "window_days AS trend_days FROM theme_trends WHERE theme_id = ?",
        [wh.theme_of(ids).pop()]))[0]


def test_trend_phrase_never_divides_and_names_its_window():
    assert trend_phrase({"trend": "rising", "trend_recent": 18, "trend_baseline": 0.0,
                         "trend_days": 7}) == "rising: 18 in the last 7 days, usually none"
    assert trend_phrase({"trend": "steady", "trend_recent": 1200, "trend_baseline": 1100.4,
                         "trend_days": 14}) == "steady: 1,200 in the last 14 days, usually about 1,100"
    assert trend_phrase({"trend": "rising", "trend_recent": 3, "trend_baseline": 0.5,
                         "trend_days": 7}) == "rising: 3 in the last 7 days, usually fewer than 1"
    assert trend_phrase({"trend": "steady", "trend_recent": None}) == "steady"

