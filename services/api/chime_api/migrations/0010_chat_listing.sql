-- Projection: a chat's place in `GET /v1/chats`, folded from the same chat streams as
-- `chats`: when any bot first saw it (the least `first_seen_at` of its rows; it only moves
-- earlier). One row per chat, so a page walks this index in order and stops at its limit
-- instead of grouping every chat; the filters are checked on the chat's rows by key.
CREATE TABLE chat_listing (
    chat_id bigint PRIMARY KEY,
    first_seen_at timestamptz NOT NULL
);
CREATE INDEX chat_listing_page ON chat_listing (first_seen_at DESC, chat_id DESC);

INSERT INTO chat_listing (chat_id, first_seen_at)
SELECT chat_id, min(first_seen_at) FROM chats GROUP BY chat_id;
