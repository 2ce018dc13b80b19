-- Trend flags per active theme as of $as_of.
-- Parameters: $run_id, $as_of, $recent_days, $baseline_days, $rising_ratio, $min_count,
--             $fading_ratio, $new_days.
-- Method: split the $baseline_days before the recent window into windows of $recent_days
-- (28 days -> four 7-day windows); the baseline is the median item count of those windows
-- (a window without items counts 0), so one busy week does not make a baseline.
-- new:     first seen within the last $new_days;
-- rising:  recent >= max($min_count, $rising_ratio * baseline);
-- fading:  baseline >= $min_count and recent <= $fading_ratio * baseline;
-- steady:  everything else.
WITH live AS (
    SELECT theme_id, first_seen FROM themes WHERE status = 'active'
),
buckets AS (
    -- bucket 0 is the recent window, 1..n the baseline windows before it
    SELECT c.theme_id,
           floor(datediff('day', c.day, CAST($as_of AS DATE)) / $recent_days)::INTEGER AS bucket,
           sum(c.items) AS items
    FROM theme_daily_counts c
    WHERE c.day <= CAST($as_of AS DATE)
      AND c.day > CAST($as_of AS DATE) - to_days($recent_days + $baseline_days)
    GROUP BY ALL
),
grid AS (
    SELECT l.theme_id, b.bucket, coalesce(x.items, 0) AS items
    FROM live l
    CROSS JOIN range(0, ($baseline_days // $recent_days) + 1) AS b(bucket)
    LEFT JOIN buckets x ON x.theme_id = l.theme_id AND x.bucket = b.bucket
),
windows AS (
    SELECT theme_id,
           sum(items) FILTER (WHERE bucket = 0)    AS recent_count,
           median(items) FILTER (WHERE bucket > 0) AS baseline
    FROM grid GROUP BY theme_id
)
SELECT $run_id AS run_id, w.theme_id, w.recent_count, $recent_days AS window_days,
       w.baseline,
       round((w.recent_count + 1.0) / (w.baseline + 1.0), 3) AS ratio,
       CASE
           WHEN l.first_seen > $as_of - to_days($new_days) THEN 'new'
           WHEN w.recent_count >= greatest($min_count, $rising_ratio * w.baseline) THEN 'rising'
           WHEN w.baseline >= $min_count AND w.recent_count <= $fading_ratio * w.baseline THEN 'fading'
           ELSE 'steady'
       END AS flag
FROM windows w JOIN live l USING (theme_id)
