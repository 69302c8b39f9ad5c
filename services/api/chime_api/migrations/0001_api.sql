-- API keys: only a hash of the secret is stored; `prefix` is what listings show.
CREATE TABLE api_keys (
    id text PRIMARY KEY,
    name text NOT NULL,
    prefix text NOT NULL,
    secret_hash text NOT NULL,
    scopes text[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

-- Read model of notifications asked for through the API, projected from our own
-- NotificationRequested and the sender's message.sent / send.failed events.
CREATE TABLE notifications (
    id text PRIMARY KEY,
    api_key_id text NOT NULL REFERENCES api_keys (id),
    bot_id bigint NOT NULL,
    chat_id bigint NOT NULL,
    parse_mode text,
    status text NOT NULL DEFAULT 'accepted' CHECK (status IN ('accepted', 'sent', 'failed')),
    created_at timestamptz NOT NULL,
    sent_at timestamptz,
    telegram_message_id bigint,
    failure jsonb,
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- A key's listing, newest first, continued from a (created_at, id) cursor.
CREATE INDEX notifications_by_key ON notifications (api_key_id, created_at DESC, id DESC);

-- One row per (key, Idempotency-Key), written in the transaction of the request's effect,
-- with the response to replay. The primary key makes a concurrent duplicate wait, then see
-- the committed response.
CREATE TABLE idempotency_keys (
    api_key_id text NOT NULL REFERENCES api_keys (id),
    key text NOT NULL,
    fingerprint text NOT NULL,
    response_status integer,
    response_body jsonb,
    response_headers jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (api_key_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
