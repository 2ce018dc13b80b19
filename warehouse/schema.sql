-- feedback-pipeline warehouse schema. Applied on every connect; every statement is idempotent.

CREATE SEQUENCE IF NOT EXISTS theme_id_seq START 1;

-- One row per source record, upserted by (source, external_id).
CREATE TABLE IF NOT EXISTS items (
    source            VARCHAR NOT NULL,
    external_id       VARCHAR NOT NULL,
    kind              VARCHAR NOT NULL,          -- community_post | support_ticket
    url               VARCHAR,
    author_hash       VARCHAR,                   -- stable pseudonym, never the handle
    author_is_bot     BOOLEAN DEFAULT FALSE,     -- decided at ingest, while the handle is known
    title             VARCHAR,
    body              VARCHAR,                   -- original text as fetched
    tags              VARCHAR[],
    votes             INTEGER DEFAULT 0,
    customer          VARCHAR,
    plan              VARCHAR,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    deleted           BOOLEAN DEFAULT FALSE,
    content_hash      VARCHAR NOT NULL,          -- changes when title/body change
    first_seen_run    VARCHAR,
    last_changed_run  VARCHAR,
    -- clean stage output (NULL until cleaned for the current content_hash)
    clean_text        VARCHAR,
    clean_hash        VARCHAR,                   -- content_hash the clean_text was made from
    text_hash         VARCHAR,                   -- hash of clean_text: the embedding cache key
    drop_reason       VARCHAR,                   -- why the cleaner dropped it (bot, too_short, ...)
    item_type         VARCHAR,                   -- request | problem | question | praise
    language          VARCHAR,
    PRIMARY KEY (source, external_id)
);

-- Records that could not be ingested, kept with why. Keyed by content so reruns do not duplicate.
CREATE TABLE IF NOT EXISTS rejected_items (
    source        VARCHAR NOT NULL,
    raw_hash      VARCHAR NOT NULL,
    position      VARCHAR NOT NULL,             -- file:line, page/offset, ...
    external_id   VARCHAR,
    reason        VARCHAR NOT NULL,
    raw           VARCHAR,                      -- first 2,000 characters of the record
    run_id        VARCHAR,
    rejected_at   TIMESTAMPTZ DEFAULT current_timestamp,
    PRIMARY KEY (source, raw_hash)
);

-- Per-source incremental cursor; advanced only in the transaction that commits its rows.
CREATE TABLE IF NOT EXISTS source_cursors (
    source      VARCHAR PRIMARY KEY,
    cursor      VARCHAR,
    updated_at  TIMESTAMPTZ
);

-- Embedding cache: an unchanged text is never embedded twice with the same model.
CREATE TABLE IF NOT EXISTS embeddings (
    text_hash   VARCHAR NOT NULL,
    model       VARCHAR NOT NULL,
    vector      FLOAT[] NOT NULL,
    created_at  TIMESTAMPTZ DEFAULT current_timestamp,
    PRIMARY KEY (text_hash, model)
);

CREATE TABLE IF NOT EXISTS runs (
    run_id       VARCHAR PRIMARY KEY,
    started_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ,
    status       VARCHAR NOT NULL,             -- running | completed | failed | crashed
    stats        JSON,                         -- per-stage counts and timings
    error        VARCHAR
);
-- Who runs it (host:pid:token, see warehouse/runs.py), the Prefect flow run, the last stage saved.
ALTER TABLE runs ADD COLUMN IF NOT EXISTS process VARCHAR;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS flow_run_id VARCHAR;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS updated_at TIMESTAMPTZ;

-- Themes keep their id across runs (matched by centroid, see themes.py).
CREATE TABLE IF NOT EXISTS themes (
    theme_id      INTEGER PRIMARY KEY,
    title         VARCHAR NOT NULL,
    keywords      VARCHAR[],
    quotes        JSON,                         -- [{source, external_id, text, url}]
    centroid      FLOAT[],                      -- unit-length mean of the members' vectors
    vector_sum    FLOAT[],                      -- sum of members' vectors: incremental updates
    size          INTEGER,
    status        VARCHAR NOT NULL,             -- active | faded | rejected | merged
    merged_into   INTEGER,                      -- set when status = 'merged'
    split_from    INTEGER,                      -- set when a person split this off another theme
    title_locked  BOOLEAN DEFAULT FALSE,        -- a person renamed it: keep the title
    first_seen    TIMESTAMPTZ,
    last_seen     TIMESTAMPTZ,
    created_run   VARCHAR,
    updated_run   VARCHAR
);
-- The most representative customer sentence, shown beside the title (a phrase since issue #16).
ALTER TABLE themes ADD COLUMN IF NOT EXISTS sentence VARCHAR;
-- A lower bound of the members' cosine to the centroid, valid only while size is still
-- member_bound_size: incremental nights keep the member floor without reloading every member
-- (cluster/incremental.py keep_floor); NULL or stale means the members are read again.
ALTER TABLE themes ADD COLUMN IF NOT EXISTS member_bound FLOAT;
ALTER TABLE themes ADD COLUMN IF NOT EXISTS member_bound_size INTEGER;

-- Current theme of every clustered item; theme_id -1 is noise (kept so the nightly incremental
-- path knows the item was seen and can retry it while it is recent).
CREATE TABLE IF NOT EXISTS item_themes (
    source       VARCHAR NOT NULL,
    external_id  VARCHAR NOT NULL,
    theme_id     INTEGER NOT NULL,
    similarity   FLOAT,                         -- cosine to the theme centroid
    text_hash    VARCHAR,                       -- the text this assignment was made for
    method       VARCHAR,                       -- clustered | assigned | manual
    run_id       VARCHAR,
    PRIMARY KEY (source, external_id)
);

-- What people decided about themes (merge, split, rename, reject); later runs respect them.
CREATE SEQUENCE IF NOT EXISTS decision_id_seq START 1;
CREATE TABLE IF NOT EXISTS theme_decisions (
    decision_id  INTEGER PRIMARY KEY DEFAULT nextval('decision_id_seq'),
    action       VARCHAR NOT NULL,              -- merge | split | rename | reject
    theme_id     INTEGER NOT NULL,
    other_theme  INTEGER,                       -- merge: the theme kept; split: the new part
    value        VARCHAR,                       -- rename: the new title
    decided_by   VARCHAR,
    decided_at   TIMESTAMPTZ DEFAULT current_timestamp
);

CREATE TABLE IF NOT EXISTS theme_events (
    run_id       VARCHAR,
    theme_id     INTEGER NOT NULL,
    event        VARCHAR NOT NULL,              -- created | split_from | merged_into | renamed | faded | revived | rejected
    other_theme  INTEGER,
    detail       VARCHAR,
    happened_at  TIMESTAMPTZ DEFAULT current_timestamp
);

-- The ranking of every run, with the full score breakdown (see rank.sql).
CREATE TABLE IF NOT EXISTS theme_scores (
    run_id            VARCHAR NOT NULL,
    theme_id          INTEGER NOT NULL,
    rank              INTEGER NOT NULL,
    score             DOUBLE NOT NULL,
    item_count        INTEGER,
    distinct_authors  INTEGER,
    support_count     INTEGER,
    community_count   INTEGER,
    support_share     DOUBLE,
    votes             BIGINT,
    recent_count      INTEGER,
    previous_count    INTEGER,
    growth            DOUBLE,
    last_seen         TIMESTAMPTZ,
    days_since_last   DOUBLE,
    breakdown         JSON,                     -- {component: {value, normalized, weight, points}}
    type_mix          JSON,                     -- members per item type {request: n, problem: n, ...}
    coherence         DOUBLE,                   -- mean member cosine to the centroid (no labels)
    needs_review      BOOLEAN DEFAULT FALSE,    -- coherence under rank.min_coherence: not delivered
    PRIMARY KEY (run_id, theme_id)
);
ALTER TABLE theme_scores ADD COLUMN IF NOT EXISTS type_mix JSON;  -- warehouses made before it
ALTER TABLE theme_scores ADD COLUMN IF NOT EXISTS coherence DOUBLE;
ALTER TABLE theme_scores ADD COLUMN IF NOT EXISTS needs_review BOOLEAN DEFAULT FALSE;

-- Outbox: every would-be or real delivery, keyed so a rerun updates instead of duplicating.
CREATE TABLE IF NOT EXISTS deliveries (
    delivery_key  VARCHAR PRIMARY KEY,          -- jira:theme:<id> | slack:digest:<date>
    sink          VARCHAR NOT NULL,             -- jira | slack
    theme_id      INTEGER,
    run_id        VARCHAR,
    payload       JSON NOT NULL,
    payload_hash  VARCHAR NOT NULL,
    status        VARCHAR NOT NULL,             -- dry_run | pending | sent | failed | retired
    external_ref  VARCHAR,                      -- Jira key, Slack ts
    error         VARCHAR,
    created_at    TIMESTAMPTZ DEFAULT current_timestamp,
    updated_at    TIMESTAMPTZ DEFAULT current_timestamp
);

-- Items per theme and day, for trend lines.
CREATE OR REPLACE VIEW theme_daily_counts AS
SELECT t.theme_id, CAST(i.created_at AS DATE) AS day, count(*) AS items,
       count(DISTINCT i.author_hash) AS authors
FROM item_themes t JOIN items i USING (source, external_id)
WHERE t.theme_id <> -1 AND NOT i.deleted AND i.drop_reason IS NULL
GROUP BY ALL;

-- Trend flags of every run (see trends.sql for the method).
CREATE TABLE IF NOT EXISTS theme_trends (
    run_id         VARCHAR NOT NULL,
    theme_id       INTEGER NOT NULL,
    recent_count   INTEGER,                     -- items in the last recent_days
    baseline       DOUBLE,                      -- expected items per recent_days, from the trailing median
    ratio          DOUBLE,
    flag           VARCHAR,                     -- new | rising | fading | steady
    PRIMARY KEY (run_id, theme_id)
);
-- the recent window the counts above cover, so every output words the trend the same way
ALTER TABLE theme_trends ADD COLUMN IF NOT EXISTS window_days INTEGER;

-- Customer value (issue #18; ingest/accounts.py, warehouse/theme_value.sql). The accounts file
-- replaces `accounts` whole each night; `account_loads` keeps what each night loaded.
CREATE TABLE IF NOT EXISTS accounts (
    customer      VARCHAR PRIMARY KEY,          -- the id items carry in `customer`
    label         VARCHAR NOT NULL,             -- shown in outputs: name, id or pseudonym, never an e-mail
    plan          VARCHAR,
    segment       VARCHAR,
    arr           DOUBLE NOT NULL,              -- annual revenue (mrr x accounts.mrr_to_arr)
    arr_from      VARCHAR NOT NULL,             -- arr | mrr: what the file gave
    owner         VARCHAR,
    position      VARCHAR,                      -- file:line
    loaded_run    VARCHAR,
    loaded_at     TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS account_loads (
    run_id     VARCHAR PRIMARY KEY,
    path       VARCHAR,
    loaded     INTEGER,
    rejected   INTEGER,
    total_arr  DOUBLE,
    loaded_at  TIMESTAMPTZ
);
-- Per run and theme: accounts affected, ARR at stake, by plan and segment, top accounts.
CREATE TABLE IF NOT EXISTS theme_value (
    run_id        VARCHAR NOT NULL,
    theme_id      INTEGER NOT NULL,
    accounts      INTEGER NOT NULL,
    arr           DOUBLE NOT NULL,
    by_plan       JSON,                         -- [{name, accounts, arr}] by ARR
    by_segment    JSON,                         -- [{name, accounts, arr}] by ARR
    top_accounts  JSON,                         -- [{label, plan, segment, arr, items}] by ARR
    PRIMARY KEY (run_id, theme_id)
);
ALTER TABLE theme_scores ADD COLUMN IF NOT EXISTS accounts_affected INTEGER;
ALTER TABLE theme_scores ADD COLUMN IF NOT EXISTS arr_at_stake DOUBLE;
