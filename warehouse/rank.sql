-- Rank the active themes of the current clustering.
-- Parameters: $run_id, $as_of (TIMESTAMPTZ), $half_life_days, $window_days, $min_authors,
--             $w_volume, $w_authors, $w_growth, $w_recency, $w_votes, $w_support_share,
--             $types (item types counted, e.g. ['request', 'problem']; untyped items always count),
--             $w_coherence, $min_coherence (see the coherence CTE),
--             $w_value, $value_decades (customer value: theme_value.sql's ARR at stake, see the
--             value CTE).
-- Each component is computed, normalised to [0, 1] across the themes of this run (min-max), then
-- weighted; the breakdown keeps all three numbers so every score can be explained.
WITH all_members AS (
    SELECT t.theme_id, i.kind, i.author_hash, i.votes, i.created_at, i.item_type
    FROM item_themes t
    JOIN items i USING (source, external_id)
    JOIN themes th ON th.theme_id = t.theme_id
    WHERE th.status = 'active' AND NOT i.deleted AND i.drop_reason IS NULL
      AND i.created_at <= $as_of
),
-- The mix of item types over all members, whatever $types counts.
type_mix AS (
    SELECT theme_id,
           json_object('request',  count(*) FILTER (WHERE item_type = 'request'),
                       'problem',  count(*) FILTER (WHERE item_type = 'problem'),
                       'question', count(*) FILTER (WHERE item_type = 'question'),
                       'praise',   count(*) FILTER (WHERE item_type = 'praise'),
                       'untyped',  count(*) FILTER (WHERE item_type IS NULL))  AS type_mix
    FROM all_members
    GROUP BY theme_id
),
members AS (
    SELECT * FROM all_members
    WHERE item_type IS NULL OR list_contains($types, item_type)
),
stats AS (
    SELECT theme_id,
           count(*)                                                       AS item_count,
           count(DISTINCT author_hash)                                    AS distinct_authors,
           count(*) FILTER (WHERE kind = 'support_ticket')                AS support_count,
           count(*) FILTER (WHERE kind = 'community_post')                AS community_count,
           coalesce(sum(votes), 0)                                        AS votes,
           count(*) FILTER (WHERE created_at > $as_of - to_days($window_days))
                                                                          AS recent_count,
           count(*) FILTER (WHERE created_at <= $as_of - to_days($window_days)
                              AND created_at > $as_of - to_days(2 * $window_days))
                                                                          AS previous_count,
           max(created_at)                                                AS last_seen
    FROM members
    GROUP BY theme_id
    HAVING count(DISTINCT author_hash) >= $min_authors
),
-- How alike a theme's members are, without labels: the mean cosine of a member to the theme's
-- centroid, which the stored vector sum gives exactly (members are unit vectors, so
-- mean(x . c) = |sum x| / n). A theme under $min_coherence needs review: it is ranked after
-- every coherent theme and never delivered (see BENCHMARKS.md for how well it predicts the
-- share of a theme's members that share one labelled intent).
coherence AS (
    SELECT theme_id,
           CASE WHEN vector_sum IS NOT NULL AND size > 0
                THEN least(sqrt(list_dot_product(vector_sum, vector_sum)) / size, 1.0)
           END                                                            AS coherence
    FROM themes WHERE status = 'active'
),
-- Customer value: ARR at stake relative to the largest theme's, on a log scale spanning
-- $value_decades decades: the largest scores 1, each 10x less scores 1/$value_decades less, and
-- from 10^-$value_decades of it down (and without any ARR) 0. A ratio, so the currency and its
-- unit do not matter; a log, so one giant contract cannot dwarf every other theme.
-- No accounts loaded: 0 for every theme, so the ranking is exactly the one without it.
value AS (
    SELECT theme_id, accounts AS v_accounts, arr AS v_arr
    FROM theme_value WHERE run_id = $run_id
),
features AS (
    SELECT *,
           support_count / item_count::DOUBLE                             AS support_share,
           -- add-one smoothing: a theme going from 0 to 1 item is not "infinitely" growing
           (recent_count + 1.0) / (previous_count + 1.0)                  AS growth,
           epoch($as_of - last_seen) / 86400.0                            AS days_since_last,
           ln(1 + item_count)                                             AS f_volume,
           ln(1 + distinct_authors)                                       AS f_authors,
           ln((recent_count + 1.0) / (previous_count + 1.0))              AS f_growth,
           exp(-ln(2) * greatest(epoch($as_of - last_seen), 0) / 86400.0 / $half_life_days)
                                                                          AS f_recency,
           ln(1 + votes)                                                  AS f_votes,
           support_count / item_count::DOUBLE                             AS f_support_share,
           coherence.coherence                                            AS f_coherence,
           coalesce(v_accounts, 0)                                        AS accounts_affected,
           coalesce(v_arr, 0)                                             AS arr_at_stake,
           coalesce(v_arr, 0)                                             AS f_value
    FROM stats LEFT JOIN coherence USING (theme_id) LEFT JOIN value USING (theme_id)
),
normalised AS (
    SELECT *,
           coalesce((f_volume - min(f_volume) OVER ()) / nullif(max(f_volume) OVER () - min(f_volume) OVER (), 0), 0) AS n_volume,
           coalesce((f_authors - min(f_authors) OVER ()) / nullif(max(f_authors) OVER () - min(f_authors) OVER (), 0), 0) AS n_authors,
           coalesce((f_growth - min(f_growth) OVER ()) / nullif(max(f_growth) OVER () - min(f_growth) OVER (), 0), 0) AS n_growth,
           coalesce((f_recency - min(f_recency) OVER ()) / nullif(max(f_recency) OVER () - min(f_recency) OVER (), 0), 0) AS n_recency,
           coalesce((f_votes - min(f_votes) OVER ()) / nullif(max(f_votes) OVER () - min(f_votes) OVER (), 0), 0) AS n_votes,
           f_support_share                                                AS n_support_share,
           coalesce((f_coherence - min(f_coherence) OVER ()) / nullif(max(f_coherence) OVER () - min(f_coherence) OVER (), 0), 0) AS n_coherence,
           CASE WHEN f_value > 0
                THEN greatest(0, 1 + log10(f_value / max(f_value) OVER ()) / $value_decades)
                ELSE 0 END                                                AS n_value,
           max(arr_at_stake) OVER ()                                      AS max_arr
    FROM features
),
scored AS (
    SELECT *,
           $w_volume * n_volume + $w_authors * n_authors + $w_growth * n_growth
         + $w_recency * n_recency + $w_votes * n_votes + $w_support_share * n_support_share
         + $w_coherence * n_coherence + $w_value * n_value                AS score,
           coalesce(f_coherence < $min_coherence, FALSE)                  AS needs_review
    FROM normalised
)
SELECT $run_id                                                            AS run_id,
       theme_id,
       row_number() OVER (ORDER BY needs_review, score DESC, item_count DESC, theme_id) AS rank,
       round(score, 4)                                                    AS score,
       item_count, distinct_authors, support_count, community_count,
       round(support_share, 4)                                            AS support_share,
       votes, recent_count, previous_count,
       round(growth, 4)                                                   AS growth,
       last_seen,
       round(days_since_last, 2)                                          AS days_since_last,
       json_object(
           'volume',        json_object('value', item_count,                 'normalized', round(n_volume, 4),        'weight', $w_volume,        'points', round($w_volume * n_volume, 4)),
           'authors',       json_object('value', distinct_authors,           'normalized', round(n_authors, 4),       'weight', $w_authors,       'points', round($w_authors * n_authors, 4)),
           'growth',        json_object('value', round(growth, 4),           'normalized', round(n_growth, 4),        'weight', $w_growth,        'points', round($w_growth * n_growth, 4)),
           'recency',       json_object('value', round(days_since_last, 2),  'normalized', round(n_recency, 4),       'weight', $w_recency,       'points', round($w_recency * n_recency, 4)),
           'votes',         json_object('value', votes,                      'normalized', round(n_votes, 4),         'weight', $w_votes,         'points', round($w_votes * n_votes, 4)),
           'support_share', json_object('value', round(support_share, 4),    'normalized', round(n_support_share, 4), 'weight', $w_support_share, 'points', round($w_support_share * n_support_share, 4)),
           'coherence',     json_object('value', round(f_coherence, 4),      'normalized', round(n_coherence, 4),     'weight', $w_coherence,     'points', round($w_coherence * n_coherence, 4)),
           'value',         json_object('value', round(arr_at_stake),     'normalized', round(n_value, 4),         'weight', $w_value,         'points', round($w_value * n_value, 4),
                                        'reason', CASE
               WHEN NOT EXISTS (SELECT 1 FROM accounts) THEN 'no accounts loaded ([accounts] path unset): adds nothing'
               WHEN accounts_affected = 0 THEN 'no known account among its customers'
               ELSE format('{:,.0f} ARR at stake in {} account{}: {:.0f}% of the largest theme''s ({:,.0f}); on a log scale over {:g} decades, {:.2f}',
                           arr_at_stake, accounts_affected, CASE WHEN accounts_affected = 1 THEN '' ELSE 's' END,
                           100 * arr_at_stake / max_arr, max_arr, $value_decades, n_value) END)
       )                                                                  AS breakdown,
       type_mix.type_mix,
       round(f_coherence, 4)                                              AS coherence,
       needs_review,
       accounts_affected,
       round(arr_at_stake, 2)                                             AS arr_at_stake
FROM scored LEFT JOIN type_mix USING (theme_id)
ORDER BY rank
