"""Cluster stage: recurring requests ("themes") that keep their identity from night to night.

``model.py`` finds clusters (UMAP + HDBSCAN + a second pass for noise), ``corpus.py`` loads what
to cluster, ``identity.py`` matches a full re-cluster to the stored themes, ``incremental.py`` is
the nightly path that places new items, ``store.py`` writes themes, ``label.py`` names them
(``keywords.py``: c-TF-IDF terms in each theme's language), ``languages.py`` keeps languages
apart, ``corrections.py`` applies people's decisions.
"""

from feedback_pipeline._exports import lazy

__all__ = ["ThemeClusterer", "cluster_corpus", "label_themes", "merge_themes",
           "needs_full_recluster", "reject_theme", "rename_theme", "save_clustering",
           "split_theme", "update_incrementally"]
__getattr__ = lazy(__name__, {
    "ThemeClusterer": "model", "cluster_corpus": "corpus", "save_clustering": "identity",
    "needs_full_recluster": "incremental", "update_incrementally": "incremental",
    "label_themes": "label", "merge_themes": "corrections", "split_theme": "corrections",
    "rename_theme": "corrections", "reject_theme": "corrections"})
