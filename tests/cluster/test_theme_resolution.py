"""Resolving a theme people merged away (cluster/identity.py StoredThemes.resolve)."""

from __future__ import annotations

import numpy as np

from feedback_pipeline.cluster.store import StoredThemes


def _stored(target: dict[int, int]) -> StoredThemes:
    ids = [1, 2, 3]
    return StoredThemes(ids, np.eye(3, dtype=np.float32), dict.fromkeys(ids, "active"), target)


def test_a_chain_of_merges_resolves_to_its_end():
    assert _stored({1: 2, 2: 3}).resolve(1) == 3
    assert _stored({1: 2, 2: 3}).resolve(3) == 3


def test_a_cycle_of_merges_ends_instead_of_looping():
    # Two people merging two themes into each other must not hang the nightly run.
    assert _stored({1: 2, 2: 1}).resolve(1) in (1, 2)
