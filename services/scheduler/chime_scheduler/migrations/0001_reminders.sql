-- One-shot reminders. The partial index holds only what is still to fire, so finding due
-- work never scans fired history.
CREATE TABLE reminders (
    id text PRIMARY KEY,
    bot_id bigint NOT NULL,
    chat_id bigint NOT NULL,
    user_id bigint,
    text text NOT NULL,
    due_at timestamptz NOT NULL,
    time_zone text NOT NULL,
    state text NOT NULL DEFAULT 'scheduled' CHECK (state IN ('scheduled', 'fired', 'cancelled')),
    correlation_id text NOT NULL,
    traceparent text,
    created_at timestamptz NOT NULL DEFAULT now(),
    fired_at timestamptz
);
CREATE INDEX reminders_due ON reminders (due_at) WHERE state = 'scheduled';
