"""Settings of the cluster stage (``[cluster]``, ``[themes]``, ``[label]``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from feedback_pipeline.section import Section


class ClusterConfig(Section):
    """Defaults chosen by measurement on the Banking77 train split (see BENCHMARKS.md)."""

    reducer: Literal["umap", "pca", "none"] = "umap"
    n_components: int = 5
    umap_neighbors: int = 15
    min_cluster_size: int = Field(0, description="0: max(5, min_cluster_fraction * n items).")
    min_cluster_fraction: float = 0.003
    min_samples: int | None = None
    cluster_selection_method: Literal["eom", "leaf"] = "eom"
    # Clusters HDBSCAN would split closer than this (UMAP units) stay one. 0.15 was best on
    # Banking77 train (tune_cluster.py stage 3: NMI +0.002, 106 -> 95 clusters) but joined two
    # neighbouring intents into the demo's #1 theme (coherent top 20: 19 -> 18), so it is off.
    cluster_selection_epsilon: float = 0.0
    # Second pass (model.py): noise takes the theme of most of its nearest clustered neighbours
    # in the reduced space (0: nearest centroid only), and only when clearly close to it.
    reassign_neighbours: int = 10
    reassign_min_similarity: float = Field(0.5, description="Cosine to the theme's centroid "
                                           "(original space) a noise item needs to join it.")
    reassign_margin: float = 0.0
    # Texts at least this similar always share a theme (exact duplicates always do).
    duplicate_similarity: float = 0.95
    # Two clusters whose members' nearest neighbours lie this much in the other (model.py) are
    # one request HDBSCAN split: they are joined.
    merge_neighbour_share: float = Field(2.0, description="Share of two clusters' nearest "
                                         "neighbours across them that joins them; above 1: off.")
    # Two clusters whose centroids in the reduced space are closer than this (UMAP units) are
    # joined, closest pair first (model.py). Banking77 train (tune_cluster.py stage 4): NMI
    # +0.005, ARI +0.024; the demo's top 20 lost its duplicate pairs (2 -> 0). 0.5 joined the
    # two identity-verification intents into the demo's #1 theme.
    merge_reduced_distance: float = Field(0.4, ge=0.0, description="UMAP-space centroid "
                                          "distance under which two clusters join; 0: off.")
    # The member floor, kept on every path that places an item (full, second pass, incremental,
    # joins of new clusters to existing themes): an item this far from a theme's centroid is
    # not about what the theme is about and stays noise until it forms a theme of its own.
    member_min_similarity: float = Field(0.4, description="Lowest cosine of any member to its "
                                         "theme's centroid.")
    # Step 7 (model.py): what is still noise after the floor is clustered among itself.
    recluster_leftovers: bool = True
    random_state: int = 42
    # Bounded full re-cluster (window.py): above this many unique texts, themes are found on a
    # window of them (the most recent plus a stratified sample of the older ones) and every
    # other item joins the theme of its nearest window texts, under the member floor. At or
    # below it a full re-cluster is what it always was. It also bounds the minimum theme size
    # (min_cluster_fraction of the window, not of the warehouse), so themes do not coarsen.
    window_size: int = Field(50_000, ge=0, description="Most unique texts a full re-cluster "
                             "finds themes on; the rest is assigned. 0: no cap.")
    window_recent_share: float = Field(0.5, ge=0.0, le=1.0, description="Share of the window "
                                       "kept for texts seen in the last window_recent_days.")
    window_recent_days: int = Field(30, ge=0)
    window_neighbours: int = Field(10, ge=1, description="Nearest window texts whose themes "
                                   "vote for an item outside the window.")
    # A big warehouse repeats its requests: a window of 50,000 texts held ~3.7 rewordings of
    # each, so UMAP's 15 neighbours covered only ~4 requests and the reduction fell apart into
    # clumps of rewordings (scale bench NMI 0.81 at 10k -> 0.67 windowed). The window's
    # neighbourhood grows with it instead, like its minimum theme size does: this share of
    # the window's texts, never fewer than umap_neighbors (15 = 0.0015 x the 10k texts of
    # Banking77 train the defaults were measured on). Below the window nothing changes.
    window_umap_fraction: float = Field(0.0015, ge=0.0, description="UMAP neighbours per "
                                        "window text (at least umap_neighbors); 0: fixed.")
    batch_rows: int = Field(20_000, ge=100, description="Rows per Arrow record batch when "
                            "vectors stream out of DuckDB.")


class ThemesConfig(Section):
    """How themes keep their identity across nights (see identity.py and incremental.py)."""

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
    # Before a full clustering is matched, labelled and delivered (curate.py): two themes whose
    # members' nearest neighbours lie this much in the other, with centroids this alike, and
    # whose contact is mostly with each other (exclusivity), are one request and are merged.
    # Chosen by the precision of the merges over every theme pair of six labelled sets
    # (BENCHMARKS.md, "Near-duplicate merge"): without exclusivity the merge joined neighbouring
    # identity-verification intents into the demo's #1 theme. Even with it, about a quarter of
    # the merges it makes join two requests, and on the integrated demo one of them (identity
    # verification + why verify) became the #1 theme at 55% majority: the
    # merge ships off (merge_share 2.0) and 0.12 is the measured setting for who opts in.
    # Splitting (a theme whose 2-means halves are hardly each other's neighbours) stays off: it
    # did not help any set.
    split_share: float = Field(0.0, description="Halves' neighbour share under which a theme "
                               "is split; 0: never split (measured: 0.1).")
    merge_share: float = Field(2.0, description="Neighbour share that makes two themes one "
                               "request; above 1: never merge (measured: 0.12).")
    merge_similarity: float = Field(0.75, description="...and the centroid cosine it needs.")
    merge_exclusivity: float = Field(0.3, description="...and the share of the larger of the "
                                     "two themes' contact with other themes that is with each "
                                     "other.")


class LabelConfig(Section):
    keywords: int = 8
    quotes: int = 5
    title_max_chars: int = 90
    rerank_titles: bool = Field(True, description="Re-rank title phrases by their embedding's "
                                "closeness to the theme (label.py); off: c-TF-IDF order.")


__all__ = ["ClusterConfig", "LabelConfig", "ThemesConfig"]
