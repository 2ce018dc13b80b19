-- Customer value per active theme (issue #18): the accounts (the `accounts` table, joined to items
-- on `customer`) among the members the ranking counts, the ARR at stake (each account's ARR
-- once, however many of its people asked), and both by plan and by segment.
-- Parameters: $run_id, $as_of, $types (as in rank.sql), $top_accounts (accounts listed).
-- An account's plan is the accounts file's; without one, the plan of its newest item.
WITH members AS (
    SELECT t.theme_id, i.customer, i.plan AS item_plan, i.created_at
    FROM item_themes t
    JOIN items i USING (source, external_id)
    JOIN themes th ON th.theme_id = t.theme_id
    WHERE th.status = 'active' AND NOT i.deleted AND i.drop_reason IS NULL
      AND i.created_at <= $as_of AND i.customer IS NOT NULL
      AND (i.item_type IS NULL OR list_contains($types, i.item_type))
),
affected AS (
    SELECT m.theme_id, a.customer, a.label,
           coalesce(a.plan, arg_max(m.item_plan, m.created_at), 'unknown') AS plan,
           coalesce(a.segment, 'unknown')                                  AS segment,
           a.arr, count(*)                                                 AS items
    FROM members m JOIN accounts a USING (customer)
    GROUP BY m.theme_id, a.customer, a.label, a.plan, a.segment, a.arr
),
by_plan AS (
    SELECT theme_id, to_json(list(struct_pack(name := plan, accounts := n, arr := arr)
                                  ORDER BY arr DESC, plan)) AS by_plan
    FROM (SELECT theme_id, plan, count(*) AS n, sum(arr) AS arr FROM affected GROUP BY ALL)
    GROUP BY theme_id
),
by_segment AS (
    SELECT theme_id, to_json(list(struct_pack(name := segment, accounts := n, arr := arr)
                                  ORDER BY arr DESC, segment)) AS by_segment
    FROM (SELECT theme_id, segment, count(*) AS n, sum(arr) AS arr FROM affected GROUP BY ALL)
    GROUP BY theme_id
),
totals AS (
    SELECT theme_id, count(*) AS accounts, sum(arr) AS arr,
           to_json(list(struct_pack(label := label, plan := plan, segment := segment, arr := arr,
                                    items := items) ORDER BY arr DESC, items DESC, label)
                   [1:$top_accounts])                                      AS top_accounts
    FROM affected
    GROUP BY theme_id
)
SELECT $run_id AS run_id, theme_id, accounts, arr, by_plan, by_segment, top_accounts
FROM totals JOIN by_plan USING (theme_id) JOIN by_segment USING (theme_id)
