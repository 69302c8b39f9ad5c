-- `chats` is also the snapshot of each chat stream: the version its row was folded to and
-- who chose the chat's language (the last of ChatState's fields it lacked), so an update
-- reads its chat's state from one row instead of replaying the stream. A row is used only
-- while its version is the stream's (checked in the same statement); otherwise the stream
-- is replayed, and an append at a stale version fails on the event store's (stream,
-- version) key, so a stale row can never decide. NULL: not known to be current.
ALTER TABLE chats
    ADD COLUMN version integer,
    ADD COLUMN language_chosen_by text;

-- Upgrade: every existing row takes its stream's version and last language choice, as a
-- rebuild would.
UPDATE chats c
SET version = s.version, language_chosen_by = s.chosen_by
FROM (
    SELECT stream_id, max(version) AS version,
           (array_agg(envelope -> 'data' ->> 'chosen_by' ORDER BY version DESC)
                FILTER (WHERE type = 'language.set.v1'))[1] AS chosen_by
    FROM events
    WHERE stream_id LIKE 'chat-%'
    GROUP BY stream_id
) s
WHERE s.stream_id = 'chat-' || c.bot_id || '-' || c.chat_id;
