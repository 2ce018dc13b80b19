-- The Jira sink's tables (feedback_pipeline.sinks.jira). Applied on every connect; idempotent.

-- One row per theme that has a Jira issue: the theme <-> issue mapping and what we last set,
-- so a PM's edits (summary, priority, assignee) are detected and never overwritten.
CREATE TABLE IF NOT EXISTS jira_issues (
    theme_id            INTEGER PRIMARY KEY,
    issue_key           VARCHAR NOT NULL,
    origin              VARCHAR NOT NULL,     -- created | linked (existing backlog issue) | adopted (found by label)
    project             VARCHAR,
    last_summary        VARCHAR,              -- what we last set; NULL: never set by us
    last_priority       VARCHAR,
    last_assignee       VARCHAR,
    evidence_hash       VARCHAR,              -- hash of the evidence section we last wrote
    baseline_items      INTEGER,              -- report count at creation / last comment
    baseline_sources    VARCHAR[],            -- sources at creation / last comment
    jira_state          VARCHAR,              -- open | done | declined (as last seen)
    resolved_at         TIMESTAMPTZ,          -- Jira resolutiondate when last seen closed
    resurge_comment_for TIMESTAMPTZ,          -- resolutiondate our one resurgence comment was for
    created_run         VARCHAR,
    updated_run         VARCHAR,
    created_at          TIMESTAMPTZ DEFAULT current_timestamp,
    updated_at          TIMESTAMPTZ DEFAULT current_timestamp
);

-- Every backlog-match decision for a theme without an issue, with the best similarity found.
CREATE TABLE IF NOT EXISTS jira_backlog_matches (
    run_id       VARCHAR NOT NULL,
    theme_id     INTEGER NOT NULL,
    issue_key    VARCHAR,                     -- best existing issue (NULL: empty backlog)
    similarity   DOUBLE,
    threshold    DOUBLE NOT NULL,
    decision     VARCHAR NOT NULL,            -- linked | created
    decided_at   TIMESTAMPTZ DEFAULT current_timestamp,
    PRIMARY KEY (run_id, theme_id)
);

-- What the sink did, night by night (created, refreshed, commented, resurged, skipped, ...).
CREATE TABLE IF NOT EXISTS jira_events (
    run_id       VARCHAR,
    theme_id     INTEGER NOT NULL,
    issue_key    VARCHAR,
    event        VARCHAR NOT NULL,
    detail       VARCHAR,
    happened_at  TIMESTAMPTZ DEFAULT current_timestamp
);

-- Theme lineage (theme_events: merged_into, split_from, faded, revived) as followed in Jira: one
-- row per event, so each is acted on once. The Jira requests themselves go through the outbox
-- (deliveries, key jira:lineage:<event>:<theme>:<other>:<run>) like every other request.
CREATE TABLE IF NOT EXISTS jira_lineage (
    run_id       VARCHAR NOT NULL,            -- the run that recorded the theme event
    theme_id     INTEGER NOT NULL,
    event        VARCHAR NOT NULL,            -- merged_into | split_from | faded | revived
    other_theme  INTEGER NOT NULL,            -- merge: the theme kept; split: the original; -1: none
    action       VARCHAR,                     -- link | moved | comment | none
    issue_key    VARCHAR,                     -- the issue commented on (the merged / original theme's)
    other_key    VARCHAR,                     -- the issue linked to it
    status       VARCHAR NOT NULL,            -- pending | waiting | done | skipped | failed
    detail       VARCHAR,
    handled_run  VARCHAR,
    updated_at   TIMESTAMPTZ DEFAULT current_timestamp,
    PRIMARY KEY (run_id, theme_id, event, other_theme)
);
