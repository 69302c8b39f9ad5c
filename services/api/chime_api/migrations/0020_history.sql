-- History and stats of conversations. Every table here is partitioned by day (UTC) on the
-- time its rows are about; partitions are created ahead of time and retention drops whole
-- partitions (chime_api.history.adapters.partitions), never deleting row by row.

-- The history log: the facts the history projection is folded from (a received message, an
-- outcome of a send joined with its request, a block), kept as long as the history itself.
-- It is the source of `rebuild` for the tables below; it is kept apart from the event store
-- because it is retained by time and a chat's facts are erased when the chat is forgotten.
CREATE SEQUENCE history_log_position;
CREATE TABLE history_log (
    position bigint NOT NULL DEFAULT nextval('history_log_position'),
    at timestamptz NOT NULL,
    bot_id bigint NOT NULL,
    chat_id bigint NOT NULL,
    kind text NOT NULL,
    fact jsonb NOT NULL,
    PRIMARY KEY (position, at)
) PARTITION BY RANGE (at);
CREATE INDEX history_log_chat ON history_log (bot_id, chat_id);

-- Projection: both directions of every conversation. `id` is the log position of the fact
-- that created the row, so a rebuild gives every row the same id.
CREATE TABLE history_messages (
    id bigint NOT NULL,
    bot_id bigint NOT NULL,
    chat_id bigint NOT NULL,
    at timestamptz NOT NULL,
    direction text NOT NULL CHECK (direction IN ('in', 'out')),
    message_id bigint,
    user_id bigint,
    content_type text NOT NULL,
    text text,
    command text,
    reply_to_message_id bigint,
    edited_at timestamptz,
    delivery_id text,
    source_kind text,
    status text NOT NULL CHECK (status IN ('received', 'sent', 'failed')),
    failure_reason text,
    search tsvector GENERATED ALWAYS AS (to_tsvector('simple', coalesce(text, ''))) STORED,
    PRIMARY KEY (bot_id, chat_id, at, id)
) PARTITION BY RANGE (at);
-- An incoming message is one row however often it is edited or redelivered; an outgoing
-- one is one row per delivery.
CREATE UNIQUE INDEX history_messages_incoming
    ON history_messages (bot_id, chat_id, message_id, at) WHERE direction = 'in';
CREATE UNIQUE INDEX history_messages_outgoing
    ON history_messages (delivery_id, at) WHERE direction = 'out';

-- Projection: counters per scope ('global' '', 'bot' '<bot>', 'chat' '<bot>:<chat>',
-- 'key' '<api key id>') per UTC hour and UTC day. `latency` counts sent messages per fixed
-- histogram bucket (chime_api.history.domain.latency.BOUNDS_MS).
CREATE TABLE stats_rollups (
    scope text NOT NULL,
    scope_id text NOT NULL,
    granularity text NOT NULL CHECK (granularity IN ('hour', 'day')),
    bucket timestamptz NOT NULL,
    received bigint NOT NULL DEFAULT 0,
    received_by_kind jsonb NOT NULL DEFAULT '{}',
    sent bigint NOT NULL DEFAULT 0,
    failed bigint NOT NULL DEFAULT 0,
    failed_by_reason jsonb NOT NULL DEFAULT '{}',
    blocked bigint NOT NULL DEFAULT 0,
    latency bigint[] NOT NULL,
    active_chats bigint NOT NULL DEFAULT 0,
    active_users bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, scope_id, granularity, bucket)
) PARTITION BY RANGE (bucket);
-- Top chats: the chat rows of a range without reading other scopes.
CREATE INDEX stats_rollups_chats ON stats_rollups (granularity, bucket) WHERE scope = 'chat';

-- Projection: who was active where, per bucket: a chat's users with their message counts
-- ('chat' scope, member 'u<user>') and the distinct chats and users of the bot and global
-- scopes ('c<bot>:<chat>', 'u<user>'); a new member adds one to the rollup's active counts.
CREATE TABLE stats_members (
    scope text NOT NULL,
    scope_id text NOT NULL,
    granularity text NOT NULL,
    bucket timestamptz NOT NULL,
    member text NOT NULL,
    received bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, scope_id, granularity, bucket, member)
) PARTITION BY RANGE (bucket);

-- Machinery: where a send request meets its outcome (they come on different queues, in
-- either order); whichever arrives second records the joined fact. Rows older than the
-- retention are deleted when partitions are dropped (machinery, not history).
CREATE TABLE history_deliveries (
    delivery_id text PRIMARY KEY,
    bot_id bigint NOT NULL,
    chat_id bigint NOT NULL,
    text text,
    requested_at timestamptz,
    outcome jsonb,
    seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX history_deliveries_seen ON history_deliveries (seen_at);

-- Machinery: the window of days that have partitions; facts outside it are not kept.
CREATE TABLE history_window (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    horizon timestamptz NOT NULL,
    ahead timestamptz NOT NULL
);

-- Counter maps and histograms add up key by key; a key that reaches zero disappears, so a
-- forgotten chat leaves the maps as if it had never been counted.
CREATE FUNCTION history_add_counts(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(jsonb_object_agg(k, n) FILTER (WHERE n <> 0), '{}')
    FROM (
        SELECT k, sum(v::bigint) AS n
        FROM (SELECT * FROM jsonb_each_text(a) UNION ALL SELECT * FROM jsonb_each_text(b)) e(k, v)
        GROUP BY k
    ) s
$$;

CREATE FUNCTION history_add_arrays(a bigint[], b bigint[]) RETURNS bigint[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT array_agg(coalesce(x, 0) + coalesce(y, 0) ORDER BY i)
    FROM unnest(a, b) WITH ORDINALITY AS t(x, y, i)
$$;
