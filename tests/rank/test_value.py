"""Customer value per theme (theme_value.sql), the `value` ranking component and the
segment/plan filter, against figures computed by hand from the fixture below."""

import json
import math

import pytest

from feedback_pipeline.config import RankConfig, RankWeights
from feedback_pipeline.rank.score import rank_themes
from feedback_pipeline.rank.value import filter_by_accounts, money, theme_values
from tests.rank.test_rank import AS_OF, ranked_warehouse, reference_scores  # noqa: F401

# item -> (customer, item plan); e7 is dropped by the cleaner and e9 is after as_of: bigcorp's
# 900k must count nowhere. initech is no known account.
CUSTOMERS = {"e1": ("acme", None), "e2": ("globex", None), "e3": ("acme", None),
             "e4": ("acme", None), "e5": ("initech", "pro"), "e6": ("globex", None),
             "e7": ("bigcorp", None), "e9": ("bigcorp", None),
             "d1": ("globex", None), "d2": ("umbrella", "team"),
             "q1": ("umbrella", "free")}
# customer, label, plan, segment, arr, arr_from
ACCOUNTS = [("acme", "Acme Corp", "enterprise", "enterprise", 120_000.0, "arr"),
            ("globex", "globex", "pro", "mid-market", 12_000.0, "mrr"),
            ("umbrella", "Umbrella", None, "smb", 3_000.0, "arr"),
            ("bigcorp", "BigCorp", "enterprise", "enterprise", 900_000.0, "arr")]


@pytest.fixture
def valued(ranked_warehouse):  # noqa: F811 - the fixture imported above
    for ext, (customer, plan) in CUSTOMERS.items():
        ranked_warehouse.execute("UPDATE items SET customer = ?, plan = ? WHERE external_id = ?",
                                 [customer, plan, ext])
    ranked_warehouse.executemany(
        "INSERT INTO accounts (customer, label, plan, segment, arr, arr_from) "
        "VALUES (?, ?, ?, ?, ?, ?)", [list(a) for a in ACCOUNTS])
    return ranked_warehouse


def test_per_theme_value_matches_the_hand_computed_figures(valued):
    rank_themes(valued, RankConfig(), run_id="run-1", as_of=AS_OF)
    values = theme_values(valued, "run-1")

    assert set(values) == {1, 2, 5}  # theme 3 (SSO) has no customer at all
    t1 = values[1]
    assert (t1["accounts"], t1["arr"]) == (2, pytest.approx(132_000))
    assert t1["by_plan"] == [{"name": "enterprise", "accounts": 1, "arr": 120_000.0},
                             {"name": "pro", "accounts": 1, "arr": 12_000.0}]
    assert [s["name"] for s in t1["by_segment"]] == ["enterprise", "mid-market"]
    assert [(a["label"], a["items"]) for a in t1["top_accounts"]] == [("Acme Corp", 3),
                                                                     ("globex", 2)]
    # umbrella has no plan in the accounts file: the plan of its newest item in each theme
    assert values[2]["by_plan"] == [{"name": "pro", "accounts": 1, "arr": 12_000.0},
                                    {"name": "team", "accounts": 1, "arr": 3_000.0}]
    assert values[5]["by_plan"] == [{"name": "free", "accounts": 1, "arr": 3_000.0}]
    assert (values[2]["arr"], values[5]["arr"]) == (pytest.approx(15_000), pytest.approx(3_000))


def test_value_component_is_log_arr_relative_to_the_largest(valued):
    ranking = rank_themes(valued, RankConfig(), run_id="run-1", as_of=AS_OF)
    by_id = {r["theme_id"]: r for r in ranking}
    # the largest scores 1; each 10x less, 1/3 less (value_decades = 3)
    expected = {1: 1.0, 2: 1 + math.log10(15 / 132) / 3, 5: 1 + math.log10(3 / 132) / 3}
    assert expected[2] == pytest.approx(0.6852, abs=1e-4)
    base = reference_scores(RankWeights())
    for tid, norm in expected.items():
        part = json.loads(by_id[tid]["breakdown"])["value"]
        assert part["normalized"] == pytest.approx(norm, abs=1e-4)
        assert part["weight"] == 1.0 and part["value"] == pytest.approx(
            {1: 132_000, 2: 15_000, 5: 3_000}[tid])
        assert by_id[tid]["score"] == pytest.approx(base[tid] + norm, abs=1e-3)
    assert (by_id[1]["accounts_affected"], by_id[1]["arr_at_stake"]) == (2, 132_000)


def test_value_scale_is_a_setting_and_floors_at_zero(valued):
    ranking = rank_themes(valued, RankConfig(value_decades=1), run_id="run-1", as_of=AS_OF)
    norm = {r["theme_id"]: json.loads(r["breakdown"])["value"]["normalized"] for r in ranking}
    # over one decade: 15k is 0.11 of 132k (0.0555 after the log), 3k is under a tenth: 0
    assert norm == pytest.approx({1: 1.0, 2: 1 + math.log10(15 / 132), 5: 0.0}, abs=1e-4)


def test_value_reason_says_why(valued):
    ranking = rank_themes(valued, RankConfig(), run_id="run-1", as_of=AS_OF)
    reasons = {r["theme_id"]: json.loads(r["breakdown"])["value"]["reason"] for r in ranking}
    assert reasons[1] == ("132,000 ARR at stake in 2 accounts: 100% of the largest theme's "
                          "(132,000); on a log scale over 3 decades, 1.00")
    assert reasons[5] == ("3,000 ARR at stake in 1 account: 2% of the largest theme's "
                          "(132,000); on a log scale over 3 decades, 0.45")


def test_value_reason_without_accounts_and_for_a_theme_no_account_asks(
        ranked_warehouse):  # noqa: F811 - the fixture imported above
    ranking = rank_themes(ranked_warehouse, RankConfig(), run_id="run-1", as_of=AS_OF)
    assert {json.loads(r["breakdown"])["value"]["reason"] for r in ranking} == {
        "no accounts loaded ([accounts] path unset): adds nothing"}
    ranked_warehouse.execute("INSERT INTO accounts (customer, label, arr, arr_from) "
                             "VALUES ('nobody', 'nobody', 10, 'arr')")
    ranking = rank_themes(ranked_warehouse, RankConfig(), run_id="run-1", as_of=AS_OF)
    assert {json.loads(r["breakdown"])["value"]["reason"] for r in ranking} == {
        "no known account among its customers"}


def test_without_accounts_the_ranking_is_the_one_without_the_component(
        ranked_warehouse):  # noqa: F811 - the fixture imported above
    with_weight = rank_themes(ranked_warehouse, RankConfig(), run_id="run-1", as_of=AS_OF)
    off = rank_themes(ranked_warehouse, RankConfig(weights=RankWeights(value=0)),
                      run_id="run-1", as_of=AS_OF)
    assert [(r["theme_id"], r["score"]) for r in with_weight] == \
        [(r["theme_id"], r["score"]) for r in off]
    assert {r["theme_id"]: r["score"] for r in off} == pytest.approx(
        reference_scores(RankWeights()), abs=1e-3)


def test_weight_zero_disables_it_and_a_heavy_weight_reorders(valued):
    off = rank_themes(valued, RankConfig(weights=RankWeights(value=0)), run_id="run-1",
                      as_of=AS_OF)
    assert {r["theme_id"]: r["score"] for r in off} == pytest.approx(
        reference_scores(RankWeights()), abs=1e-3)
    only = RankWeights(volume=0, authors=0, growth=0, recency=0, votes=0, support_share=0,
                       coherence=0, value=1)
    ranking = rank_themes(valued, RankConfig(weights=only), run_id="run-1", as_of=AS_OF)
    assert [r["theme_id"] for r in ranking] == [1, 2, 5]  # 132k > 15k > 3k


@pytest.mark.parametrize(
    ("segments", "plans", "expected"),
    [
        # acme's e1, e3, e4 (authors A, C, A): one account, 120k
        (["Enterprise"], None, {1: (3, 2, 1, 120_000.0)}),
        (["mid-market"], None, {1: (2, 1, 1, 12_000.0), 2: (1, 1, 1, 12_000.0)}),
        # plan: the account's, else the item's (initech's e5 is "pro" but no account: counts)
        (None, ["pro"], {1: (3, 2, 1, 12_000.0), 2: (1, 1, 1, 12_000.0)}),
        (None, ["team"], {2: (1, 1, 1, 3_000.0)}),
        (["smb"], ["free"], {5: (1, 1, 1, 3_000.0)}),
        (["nobody"], None, {}),
    ])
def test_segment_and_plan_filter_recomputes_counts(valued, segments, plans, expected):
    ranking = rank_themes(valued, RankConfig(), run_id="run-1", as_of=AS_OF)
    kept = filter_by_accounts(valued, ranking, segments=segments, plans=plans, as_of=AS_OF)
    assert {t["theme_id"]: (t["item_count"], t["distinct_authors"], t["accounts_affected"],
                            t["arr_at_stake"]) for t in kept} == expected
    ranks = {t["theme_id"]: t["rank"] for t in ranking}
    assert all(t["rank"] == ranks[t["theme_id"]] for t in kept)  # ranks stay the ranking's


def test_no_filter_keeps_the_ranking(valued):
    ranking = rank_themes(valued, RankConfig(), run_id="run-1", as_of=AS_OF)
    assert filter_by_accounts(valued, ranking, segments=[], plans=None) is ranking


@pytest.mark.parametrize(("amount", "shown"), [(0, "0"), (950, "950"), (12_000, "12k"),
                                               (132_500, "132.5k"), (1_200_000, "1.2M"),
                                               (999_999, "1M"), (999.96, "1k"), (999.4, "999")])
def test_money(amount, shown):
    assert money(amount) == shown
