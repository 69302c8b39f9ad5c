-- Machinery: outgoing webhooks. A caller's endpoint, the secret its deliveries are signed
-- with, the event types it wants, and the delivery cursor (the last event position it
-- acknowledged) with the retry state. Deliveries read the api's events after `position`.
CREATE TABLE webhooks (
    id text PRIMARY KEY,
    owner text NOT NULL,
    api_key_id text NOT NULL,
    url text NOT NULL,
    secret text NOT NULL,
    types text[] NOT NULL,
    position bigint NOT NULL DEFAULT 0,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error text,
    delivered bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_due ON webhooks (next_attempt_at);
CREATE INDEX webhooks_by_owner ON webhooks (owner, created_at DESC, id DESC);
