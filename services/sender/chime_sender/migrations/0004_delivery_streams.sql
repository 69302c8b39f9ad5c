-- Deliveries are decided from their streams (`delivery-<id>`: the request as received, then
-- its one outcome) and chats from theirs (`chat-<bot>:<chat>`: chat.blocked.v1 and what ingest
-- reports). Projections of those streams, re-derived by `rebuild`: `delivery_log` (a
-- delivery's status, new here) and `chats`. Machinery (operational tables, not projections):
-- `deliveries` (the send queue: claims, leases, attempts and the parts sent so far),
-- `delivery_attempts`, `chat_pacing`, `bot_pacing`, `sender_instances`, outbox and inbox.
COMMENT ON TABLE deliveries IS 'machinery: the send queue (claims, leases, attempts)';
COMMENT ON TABLE chats IS 'projection of the chat-<bot>:<chat> streams';

-- The stream's version the queue row was stored at: the outcome is appended after it.
ALTER TABLE deliveries
    ADD COLUMN version integer NOT NULL DEFAULT 0,
    ADD COLUMN source_kind text,
    ADD COLUMN source_id text,
    ADD COLUMN method text NOT NULL DEFAULT 'sendMessage',
    ADD COLUMN options jsonb NOT NULL DEFAULT '{}';

CREATE TABLE delivery_log (
    delivery_id text PRIMARY KEY,
    bot_id bigint NOT NULL,
    chat_id bigint NOT NULL,
    origin text NOT NULL,
    source_kind text,
    source_id text,
    requested_at timestamptz NOT NULL,
    state text NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'unknown')),
    attempts integer,
    telegram_message_id bigint,
    reason text,
    error_code integer,
    finished_at timestamptz,
    version integer NOT NULL
);
COMMENT ON TABLE delivery_log IS 'projection of the delivery-<id> streams';

-- Deliveries stored before this migration: their streams hold at most the outcome. Those
-- still live get their request recorded now (so their outcome follows it and a rebuild keeps
-- them); finished ones are history in the queue only, and in delivery_log until a rebuild.
WITH live AS (
    SELECT d.*, 'delivery-' || d.delivery_id AS stream_id,
           'upgrade-' || md5('delivery-' || d.delivery_id) AS event_id
    FROM deliveries d WHERE d.state IN ('pending', 'sending')
      AND NOT EXISTS (SELECT 1 FROM events e WHERE e.stream_id = 'delivery-' || d.delivery_id)
), recorded AS (
    INSERT INTO events (stream_id, version, event_id, type, envelope)
    SELECT stream_id, 1, event_id, 'send.requested.v1',
           jsonb_build_object(
               'id', event_id, 'type', 'send.requested.v1', 'occurred_at', requested_at,
               'producer', 'sender', 'correlation_id', correlation_id, 'causation_id', NULL,
               'traceparent', traceparent, 'tracestate', NULL,
               'data', jsonb_build_object(
                   'type', 'send.requested.v1', 'delivery_id', delivery_id, 'bot_id', bot_id,
                   'chat_id', chat_id, 'text', text, 'parse_mode', parse_mode,
                   'reply_to_message_id', reply_to_message_id, 'origin', origin))
    FROM live RETURNING stream_id
)
UPDATE deliveries d SET version = 1 FROM recorded r WHERE r.stream_id = 'delivery-' || d.delivery_id;

INSERT INTO delivery_log (delivery_id, bot_id, chat_id, origin, requested_at, state, reason,
                          finished_at, version)
SELECT delivery_id, bot_id, chat_id, origin, requested_at,
       CASE WHEN state IN ('pending', 'sending') THEN 'pending'
            WHEN state = 'dead' THEN 'failed' ELSE state END,
       last_error, finished_at, version
FROM deliveries;

-- Blocked chats get their chat.blocked.v1 recorded, so a rebuild keeps them blocked.
INSERT INTO events (stream_id, version, event_id, type, envelope)
SELECT 'chat-' || bot_id || ':' || chat_id, 1, 'upgrade-' || md5('chat-' || bot_id || ':' || chat_id),
       'chat.blocked.v1',
       jsonb_build_object(
           'id', 'upgrade-' || md5('chat-' || bot_id || ':' || chat_id), 'type', 'chat.blocked.v1',
           'occurred_at', blocked_at, 'producer', 'sender',
           'correlation_id', 'upgrade-' || md5('chat-' || bot_id || ':' || chat_id),
           'causation_id', NULL, 'traceparent', NULL, 'tracestate', NULL,
           'data', jsonb_build_object('type', 'chat.blocked.v1', 'bot_id', bot_id,
               'chat_id', chat_id, 'detected_by', 'send_forbidden', 'blocked_at', blocked_at))
FROM chats c WHERE blocked_at IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM events e WHERE e.stream_id = 'chat-' || c.bot_id || ':' || c.chat_id);
