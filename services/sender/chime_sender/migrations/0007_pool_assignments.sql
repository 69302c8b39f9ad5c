-- Bot pools (ingest assigns each private chat of a pool one worker bot): what the sender
-- needs to refuse a send through a bot of the pool that the chat never started. Both tables
-- hold ingest's facts as received (chat.assigned.v1, chat.assignment.confirmed.v1,
-- user.started.v1), idempotently through the inbox; they are not folded from the sender's
-- own streams, so `rebuild` leaves them alone.
CREATE TABLE pool_assignments (
    chat_id bigint NOT NULL,
    pool text NOT NULL,
    bot_id bigint NOT NULL,      -- the chat's worker bot
    pool_bot_ids bigint[] NOT NULL,
    PRIMARY KEY (chat_id, pool)
);
COMMENT ON TABLE pool_assignments IS
    'machinery: ingest''s chat.assigned.v1 as received (not rebuilt: not the sender''s events)';

-- The bots each chat started, as far as the sender was told.
CREATE TABLE bot_starts (
    bot_id bigint NOT NULL,
    chat_id bigint NOT NULL,
    PRIMARY KEY (bot_id, chat_id)
);
COMMENT ON TABLE bot_starts IS
    'machinery: the /starts ingest reported (user.started.v1, pool assignments), as received';
