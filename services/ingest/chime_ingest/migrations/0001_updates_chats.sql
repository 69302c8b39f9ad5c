-- Every update Telegram delivered, once per (bot, update_id): the ingest log.
CREATE TABLE updates (
    bot_id bigint NOT NULL,
    update_id bigint NOT NULL,
    kind text NOT NULL,
    status text NOT NULL CHECK (status IN ('accepted', 'rejected')),
    reason text,
    payload jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bot_id, update_id)
);

-- Bodies that are not updates at all (no update_id): kept for inspection, never retried.
CREATE TABLE rejected_bodies (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    bot_id bigint NOT NULL,
    reason text NOT NULL,
    body text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

-- What ingest knows of each chat it talks to.
CREATE TABLE chats (
    bot_id bigint NOT NULL,
    chat_id bigint NOT NULL,
    time_zone text NOT NULL,
    started_at timestamptz,
    PRIMARY KEY (bot_id, chat_id)
);
