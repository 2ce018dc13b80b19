-- Community pulse (issue #18): who answers whom. Applied after schema.sql on every connect, so a
-- warehouse made before it gains the columns (NULL: no thread data for those rows yet).
ALTER TABLE items ADD COLUMN IF NOT EXISTS thread_id VARCHAR;    -- topic, Slack thread, ticket
ALTER TABLE items ADD COLUMN IF NOT EXISTS reply_to VARCHAR;     -- set on a reply
ALTER TABLE items ADD COLUMN IF NOT EXISTS author_role VARCHAR;  -- customer | staff | bot

-- Replies folded into their thread's item (a Zendesk ticket's comments, an Intercom conversation's
-- parts): not items of their own, so they are never cleaned, embedded or clustered.
CREATE TABLE IF NOT EXISTS thread_replies (
    source       VARCHAR NOT NULL,
    reply_id     VARCHAR NOT NULL,
    thread_id    VARCHAR NOT NULL,              -- the external_id of the item it belongs to
    author_hash  VARCHAR,
    author_role  VARCHAR NOT NULL,              -- customer | staff | bot
    created_at   TIMESTAMPTZ NOT NULL,
    -- reply ids are only trusted within their thread (a file's "r1", an emulator's "p0")
    PRIMARY KEY (source, thread_id, reply_id)
);
