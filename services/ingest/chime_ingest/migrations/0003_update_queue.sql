-- Ingest interprets what it accepted from its own tables, with no round trip through RabbitMQ
-- to itself (update.received.v1 is no longer published).
--
-- updates keeps every update once per (bot, update_id), now with the chat and user it came
-- from; 'poison' marks an accepted update whose interpretation failed too often to go on.
ALTER TABLE updates
    ADD COLUMN chat_id bigint,
    ADD COLUMN user_id bigint,
    DROP CONSTRAINT updates_status_check,
    ADD CONSTRAINT updates_status_check CHECK (status IN ('accepted', 'rejected', 'poison'));

-- The interpreter's work (operational): one row per accepted update not yet interpreted,
-- written in the transaction that stores the update and deleted in the one that interprets
-- it. Claimed with FOR UPDATE SKIP LOCKED; a chat's rows are taken in `seq` (arrival)
-- order, one claimer at a time. `event_id` and `traceparent` are those of the update's
-- receipt: what it causes carries them, whichever replica interprets it and however often.
CREATE TABLE update_queue (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    bot_id bigint NOT NULL,
    update_id bigint NOT NULL,
    chat_key bigint,
    event_id text NOT NULL,
    traceparent text,
    attempts integer NOT NULL DEFAULT 0,
    retry_at timestamptz,
    last_error text
);
CREATE INDEX update_queue_by_chat ON update_queue (bot_id, chat_key, seq);
COMMENT ON TABLE update_queue IS
    'operational: accepted updates waiting for the interpreter, claimed with SKIP LOCKED';

-- Which replica long-polls each bot (operational): a lease its holder renews; once it has
-- expired (the holder died) another replica takes it over. Polling mode only.
CREATE TABLE poll_leases (
    bot_id bigint PRIMARY KEY,
    holder text NOT NULL,
    expires_at timestamptz NOT NULL
);
COMMENT ON TABLE poll_leases IS 'operational: one getUpdates poller per bot, by lease';

CREATE INDEX updates_poison ON updates (bot_id) WHERE status = 'poison';
