-- Every message the sender was asked to deliver, by delivery_id (at most one delivery each).
-- `attempts` counts Telegram calls and fences a call's outcome against an expired lease;
-- `failures` counts transient failures (a 429 is not one); `parts_sent` lets a retry of a
-- long message resume at the next part.
CREATE TABLE deliveries (
    delivery_id text PRIMARY KEY,
    seq bigint GENERATED ALWAYS AS IDENTITY,
    bot_id bigint NOT NULL,
    chat_id bigint NOT NULL,
    text text NOT NULL,
    parse_mode text,
    reply_to_message_id bigint,
    origin text NOT NULL,
    correlation_id text NOT NULL,
    requested_at timestamptz NOT NULL,
    traceparent text,
    state text NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'dead', 'unknown')),
    attempts integer NOT NULL DEFAULT 0,
    failures integer NOT NULL DEFAULT 0,
    parts_total integer NOT NULL,
    parts_sent integer NOT NULL DEFAULT 0,
    first_message_id bigint,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until timestamptz,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
-- Only live rows are indexed, so claiming never walks delivered history.
-- Oldest request first: the producer's event time, as the bus may reorder deliveries.
CREATE INDEX deliveries_ready ON deliveries (requested_at, seq) WHERE state = 'pending';
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_leased ON deliveries (lease_until) WHERE state = 'sending';

-- One row per Telegram call.
CREATE TABLE delivery_attempts (
    delivery_id text NOT NULL REFERENCES deliveries (delivery_id),
    attempt integer NOT NULL,
    part integer NOT NULL,
    started_at timestamptz NOT NULL,
    finished_at timestamptz,
    outcome text,
    error_code integer,
    description text,
    telegram_message_id bigint,
    PRIMARY KEY (delivery_id, attempt)
);

-- Chats that blocked (or removed) a bot: nothing more is sent there.
CREATE TABLE chats (
    bot_id bigint NOT NULL,
    chat_id bigint NOT NULL,
    blocked_at timestamptz,
    block_reason text,
    PRIMARY KEY (bot_id, chat_id)
);

-- When each chat may be sent to next, shared by every replica. While a send is in flight
-- next_send_at holds the lease end, so one chat has one send at a time.
CREATE TABLE chat_pacing (
    bot_id bigint NOT NULL,
    chat_id bigint NOT NULL,
    next_send_at timestamptz NOT NULL,
    recent timestamptz[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (bot_id, chat_id)
);
