-- Projection: chats as each bot knows them, folded from the streams `chat-<bot>:<chat>`
-- (ingest's and the sender's events about the chat, kept when they change it). `version`
-- is the stream's: the next event is appended at it, so two writers cannot both apply.
CREATE TABLE chats (
    bot_id bigint NOT NULL,
    chat_id bigint NOT NULL,
    version integer NOT NULL,
    chat_type text,
    user_id bigint,
    username text,
    first_name text,
    language text,
    time_zone text,
    started_at timestamptz,
    first_seen_at timestamptz NOT NULL,
    last_seen_at timestamptz,
    blocked boolean NOT NULL DEFAULT false,
    blocked_changed_at timestamptz,
    stopped boolean NOT NULL DEFAULT false,
    PRIMARY KEY (bot_id, chat_id)
);
CREATE INDEX chats_by_chat ON chats (chat_id);

-- Projection: each recipient of the api's broadcasts, folded from the streams
-- `slice-<batch id>` (the slices handed to the sender: pending) and
-- `recipient-<broadcast id>:<chat id>` (the sender's outcome).
CREATE TABLE broadcast_recipients (
    broadcast_id text NOT NULL,
    chat_id bigint NOT NULL,
    bot_id bigint NOT NULL,
    status text NOT NULL,
    reason text,
    error_code integer,
    delivery_id text,
    telegram_message_id bigint,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (broadcast_id, chat_id)
);
CREATE INDEX broadcast_recipients_page ON broadcast_recipients (broadcast_id, created_at, chat_id);
