-- Reminders are decided from their streams (`reminder-<id>`: reminder.requested.v1,
-- reminder.scheduled.v1, notification.due.v1). The `reminders` table becomes their
-- projection, every column folded from those events (so `rebuild` re-derives it), and stays
-- the due index firing claims from. `version` is the stream's version the row reflects.
-- Operational tables of this schema (not projections): outbox, inbox, schema_migrations.
ALTER TABLE reminders DROP CONSTRAINT reminders_state_check;
ALTER TABLE reminders ADD CONSTRAINT reminders_state_check
    CHECK (state IN ('requested', 'scheduled', 'fired', 'cancelled'));
ALTER TABLE reminders ADD COLUMN version integer NOT NULL DEFAULT 0;
ALTER TABLE reminders ALTER COLUMN created_at DROP DEFAULT;
COMMENT ON TABLE reminders IS 'projection of the reminder-<id> streams; the due index';

-- Reminders stored before this migration have streams without their request (only
-- reminder.scheduled.v1, and notification.due.v1 once fired). Those still to fire get their
-- request and schedule recorded now, so a rebuild keeps them; fired ones are history only.
WITH legacy AS (
    SELECT r.*, 'reminder-' || r.id AS stream_id,
           coalesce((SELECT max(version) FROM events e WHERE e.stream_id = 'reminder-' || r.id), 0)
               AS last
    FROM reminders r WHERE r.state = 'scheduled'
), recorded AS (
    INSERT INTO events (stream_id, version, event_id, type, envelope)
    SELECT stream_id, last + n, 'upgrade-' || md5(stream_id || n), kind,
           jsonb_build_object(
               'id', 'upgrade-' || md5(stream_id || n), 'type', kind,
               'occurred_at', created_at, 'producer', 'scheduler',
               'correlation_id', correlation_id, 'causation_id', NULL,
               'traceparent', traceparent, 'tracestate', NULL,
               'data', CASE WHEN n = 1 THEN jsonb_build_object(
                   'type', kind, 'reminder_id', id, 'bot_id', bot_id, 'chat_id', chat_id,
                   'user_id', coalesce(user_id, chat_id), 'text', text, 'due_at', due_at,
                   'time_zone', time_zone, 'phrase', '')
               ELSE jsonb_build_object(
                   'type', kind, 'reminder_id', id, 'bot_id', bot_id, 'chat_id', chat_id,
                   'due_at', due_at) END)
    FROM legacy,
         LATERAL (VALUES (1, 'reminder.requested.v1'), (2, 'reminder.scheduled.v1')) AS k(n, kind)
    RETURNING stream_id, version
)
UPDATE reminders r SET version = v.version
FROM (SELECT stream_id, max(version) AS version FROM recorded GROUP BY stream_id) v
WHERE 'reminder-' || r.id = v.stream_id;

UPDATE reminders r SET version = e.version
FROM (SELECT stream_id, max(version) AS version FROM events GROUP BY stream_id) e
WHERE r.state = 'fired' AND e.stream_id = 'reminder-' || r.id;
