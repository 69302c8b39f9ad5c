-- Projections of the api's request streams (and, as the scheduler reports back, of its
-- results): what a caller asked the scheduler for, and where that stands.
CREATE TABLE schedules (
    id text PRIMARY KEY,
    owner text NOT NULL,
    api_key_id text NOT NULL,
    bot_id bigint NOT NULL,
    chat_id bigint,
    topic text,
    spec jsonb NOT NULL,
    time_zone text NOT NULL,
    starts_on date,
    ends_on date,
    message jsonb NOT NULL,
    misfire text NOT NULL,
    jitter_seconds integer NOT NULL,
    status text NOT NULL,
    pending text,
    created_at timestamptz NOT NULL
);
CREATE INDEX schedules_by_owner ON schedules (owner, created_at DESC, id DESC);

CREATE TABLE broadcasts (
    id text PRIMARY KEY,
    owner text NOT NULL,
    api_key_id text NOT NULL,
    bot_id bigint NOT NULL,
    topic text NOT NULL,
    message jsonb NOT NULL,
    at timestamptz,
    status text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX broadcasts_by_owner ON broadcasts (owner, created_at DESC, id DESC);

-- The subscriptions a caller asked for (a chat's own /subscribe is the scheduler's).
CREATE TABLE subscriptions (
    owner text NOT NULL,
    bot_id bigint NOT NULL,
    chat_id bigint NOT NULL,
    topic text NOT NULL,
    subscribed boolean NOT NULL,
    changed_at timestamptz NOT NULL,
    PRIMARY KEY (owner, topic, bot_id, chat_id)
);
