-- Bot pools: each private chat's worker bot in a pool, folded from the streams
-- `assignment-<pool>-<chat>` (chat.assigned.v1, chat.assignment.confirmed.v1), and each
-- worker's load, kept in the same transactions. Both are projections, re-derived by `rebuild`.
CREATE TABLE pool_assignments (
    pool text NOT NULL,
    chat_id bigint NOT NULL,
    bot_id bigint NOT NULL,
    front_bot_id bigint NOT NULL,
    assigned_at timestamptz NOT NULL,
    confirmed_at timestamptz,
    PRIMARY KEY (pool, chat_id)
);
COMMENT ON TABLE pool_assignments IS 'projection of the assignment-<pool>-<chat> streams';

-- One row per worker that was ever assigned a chat: a worker without one has none yet.
CREATE TABLE pool_loads (
    pool text NOT NULL,
    bot_id bigint NOT NULL,
    chats integer NOT NULL DEFAULT 0,
    confirmed integer NOT NULL DEFAULT 0,
    PRIMARY KEY (pool, bot_id)
);
COMMENT ON TABLE pool_loads IS 'projection of the assignment-<pool>-<chat> streams (counts)';
