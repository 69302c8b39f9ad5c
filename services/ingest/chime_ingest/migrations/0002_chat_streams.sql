-- A chat's state (started, time zone) is decided from its stream `chat-<bot>-<chat>`
-- (user.started.v1, time_zone.set.v1); `chats` becomes their projection, every column folded
-- from those events, so `rebuild` re-derives it. A chat that never chose a zone has none here:
-- the installation's default applies, resolved when read (a setting, not an event).
-- Operational tables of this schema (machinery, not projections): updates (the receive log
-- that deduplicates by (bot, update_id)), rejected_bodies, outbox, inbox, schema_migrations.
ALTER TABLE chats ALTER COLUMN time_zone DROP NOT NULL;
COMMENT ON TABLE chats IS 'projection of the chat-<bot>-<chat> streams';
COMMENT ON TABLE updates IS 'operational: the receive log, deduplicating (bot, update_id)';
COMMENT ON TABLE rejected_bodies IS 'operational: bodies that were not updates, for inspection';

-- Upgrade: rows written before were kept beside the streams (a /start stored the default
-- zone); derive them from the streams now, as a rebuild would.
DELETE FROM chats;
INSERT INTO chats (bot_id, chat_id, time_zone, started_at)
SELECT (envelope -> 'data' ->> 'bot_id')::bigint,
       (envelope -> 'data' ->> 'chat_id')::bigint,
       (array_agg(envelope -> 'data' ->> 'time_zone' ORDER BY position DESC)
            FILTER (WHERE type = 'time_zone.set.v1'))[1],
       (array_agg((envelope ->> 'occurred_at')::timestamptz ORDER BY position DESC)
            FILTER (WHERE type = 'user.started.v1'))[1]
FROM events
WHERE stream_id LIKE 'chat-%' AND type IN ('user.started.v1', 'time_zone.set.v1')
GROUP BY 1, 2;
