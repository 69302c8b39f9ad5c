-- Schedules, topics, subscriptions, chats and broadcasts, each decided from its streams
-- (`schedule-<id>`, `subscription-<bot>:<topic>:<chat>`, `chat-<bot>:<chat>`,
-- `broadcast-<id>`, `snooze-<id>`); the tables below marked "projection" are folded from
-- those events in the same transactions and re-derived by `rebuild`.

-- Projection of the schedule-<id> streams, and the next-fire index firing claims from:
-- the partial index holds only live schedules, ordered by when they fire next.
CREATE TABLE schedules (
    id text PRIMARY KEY,
    number integer NOT NULL,
    owner_kind text NOT NULL,
    owner_id text NOT NULL,
    bot_id bigint NOT NULL,
    chat_id bigint,
    topic text,
    spec jsonb NOT NULL,
    time_zone text NOT NULL,
    starts_on date,
    ends_on date,
    message jsonb NOT NULL,
    misfire text NOT NULL,
    misfire_grace_seconds integer NOT NULL,
    jitter_seconds integer NOT NULL,
    language text,
    status text NOT NULL CHECK (status IN ('active', 'paused', 'cancelled', 'finished')),
    paused_by text,
    next_at timestamptz,
    fire_at timestamptz,
    fired integer NOT NULL DEFAULT 0,
    last_fired_at timestamptz,
    version integer NOT NULL,
    created_at timestamptz NOT NULL,
    correlation_id text NOT NULL
);
COMMENT ON TABLE schedules IS 'projection of the schedule-<id> streams; the next-fire index';
CREATE INDEX schedules_due ON schedules (fire_at) WHERE status = 'active';
CREATE UNIQUE INDEX schedules_owner_number ON schedules (owner_kind, owner_id, number);
CREATE INDEX schedules_chat ON schedules (bot_id, chat_id);

-- Operational (not a projection): the last short number given per owner. The number is
-- recorded in schedule.created.v1, so the schedules projection never needs this table.
CREATE TABLE schedule_numbers (
    owner_kind text NOT NULL,
    owner_id text NOT NULL,
    last integer NOT NULL,
    PRIMARY KEY (owner_kind, owner_id)
);

-- Projection of the subscription streams: who follows a topic, and each topic's count.
CREATE TABLE subscriptions (
    bot_id bigint NOT NULL,
    topic text NOT NULL,
    chat_id bigint NOT NULL,
    subscribed_at timestamptz NOT NULL,
    PRIMARY KEY (bot_id, topic, chat_id)
);
COMMENT ON TABLE subscriptions IS 'projection of the subscription-<bot>:<topic>:<chat> streams';
CREATE INDEX subscriptions_chat ON subscriptions (bot_id, chat_id);
CREATE TABLE topics (
    bot_id bigint NOT NULL,
    topic text NOT NULL,
    subscribers integer NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (bot_id, topic)
);
COMMENT ON TABLE topics IS 'projection of the subscription streams: topics and their counts';

-- Projection of the chat-<bot>:<chat> streams: what the scheduler knows of a chat from
-- ingest and the sender (blocked, stopped, its zone and language).
CREATE TABLE chats (
    bot_id bigint NOT NULL,
    chat_id bigint NOT NULL,
    blocked boolean NOT NULL DEFAULT false,
    stopped boolean NOT NULL DEFAULT false,
    time_zone text,
    language text,
    migrated_to bigint,
    PRIMARY KEY (bot_id, chat_id)
);
COMMENT ON TABLE chats IS 'projection of the chat-<bot>:<chat> streams';

-- Projection of the broadcast-<id> streams, and the index of timed broadcasts.
CREATE TABLE broadcasts (
    id text PRIMARY KEY,
    owner_kind text NOT NULL,
    owner_id text NOT NULL,
    bot_id bigint NOT NULL,
    topic text NOT NULL,
    schedule_id text,
    message jsonb NOT NULL,
    paid boolean NOT NULL DEFAULT false,
    status text NOT NULL CHECK (status IN ('scheduled', 'sending', 'finished', 'cancelled')),
    due_at timestamptz NOT NULL,
    recipients integer NOT NULL DEFAULT 0,
    skipped integer NOT NULL DEFAULT 0,
    handed integer NOT NULL DEFAULT 0,
    sent integer NOT NULL DEFAULT 0,
    failed integer NOT NULL DEFAULT 0,
    started_at timestamptz,
    estimated_finish_at timestamptz,
    finished_at timestamptz,
    version integer NOT NULL,
    correlation_id text NOT NULL
);
COMMENT ON TABLE broadcasts IS 'projection of the broadcast-<id> streams; the due index';
CREATE INDEX broadcasts_due ON broadcasts (due_at) WHERE status = 'scheduled';

-- Operational (not a projection): outcome counts of a broadcast's deliveries as they come
-- from the sender, folded into broadcast.progress.v1 events now and then.
CREATE TABLE broadcast_tallies (
    broadcast_id text PRIMARY KEY,
    sent integer NOT NULL DEFAULT 0,
    failed integer NOT NULL DEFAULT 0,
    reported integer NOT NULL DEFAULT 0
);

-- Snoozes fire from the reminders' due index: a row per snooze, kind 'snooze'.
ALTER TABLE reminders ADD COLUMN kind text NOT NULL DEFAULT 'reminder';
ALTER TABLE reminders ADD COLUMN language text;
ALTER TABLE broadcast_tallies ADD COLUMN handed integer NOT NULL DEFAULT 0;
