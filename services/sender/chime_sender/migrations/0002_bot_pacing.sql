-- When each bot token's next send slot starts, shared by every replica (GCRA without burst):
-- a claim takes the slots starting within a short horizon and moves next_slot_at past them;
-- a 429 pushes it to the end of retry_after, so every replica pauses that bot.
CREATE TABLE bot_pacing (
    bot_id bigint PRIMARY KEY,
    next_slot_at timestamptz NOT NULL
);
