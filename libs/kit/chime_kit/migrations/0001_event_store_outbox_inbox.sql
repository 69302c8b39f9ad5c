-- Append-only event store: one row per event, optimistic concurrency by (stream, version).
CREATE TABLE events (
    position bigint GENERATED ALWAYS AS IDENTITY,
    stream_id text NOT NULL,
    version integer NOT NULL CHECK (version > 0),
    event_id text NOT NULL,
    type text NOT NULL,
    envelope jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream_id, version)
);
CREATE UNIQUE INDEX events_position ON events (position);

-- Transactional outbox: rows are written in the same transaction as the state change and
-- deleted by the relay once the broker confirmed them.
CREATE TABLE outbox (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id text NOT NULL,
    routing_key text NOT NULL,
    body bytea NOT NULL,
    traceparent text,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Idempotent inbox: a consumer's row commits with its handler's writes.
CREATE TABLE inbox (
    consumer text NOT NULL,
    event_id text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
