-- Slack digest sink (src/feedback_pipeline/sinks/slack). Applied on every connect; idempotent.

-- One row per digest date: the intent is recorded before any Slack call, the message ts right
-- after it, so a retried or rerun flow updates the same message (chat.update) instead of posting.
CREATE TABLE IF NOT EXISTS slack_digests (
    digest_key    VARCHAR PRIMARY KEY,          -- slack:digest:<date>, as in deliveries
    digest_date   DATE NOT NULL,
    mode          VARCHAR NOT NULL,             -- bot | webhook
    channel       VARCHAR NOT NULL,             -- as configured
    channel_id    VARCHAR,                      -- as Slack answered (needed by chat.update)
    status        VARCHAR NOT NULL,             -- pending | sent | failed | silent
    ts            VARCHAR,                      -- the digest message
    reply_ts      VARCHAR,                      -- the thread reply with quotes and sources
    main_hash     VARCHAR,                      -- of the main message last sent
    reply_hash    VARCHAR,                      -- of the thread reply last sent
    run_id        VARCHAR,
    attempts      INTEGER NOT NULL DEFAULT 0,
    error         VARCHAR,
    created_at    TIMESTAMPTZ DEFAULT current_timestamp,
    updated_at    TIMESTAMPTZ DEFAULT current_timestamp
);

-- Themes whose Jira issue reached Done. Listed once in a digest's "shipped" section, with the
-- community threads to answer; announced_in is the digest that listed them.
CREATE TABLE IF NOT EXISTS slack_shipped (
    theme_id      INTEGER PRIMARY KEY,
    jira_key      VARCHAR,
    shipped_at    TIMESTAMPTZ NOT NULL,
    announced_in  VARCHAR
);
