-- What the scheduler reported back about the api's schedules and broadcasts (its result
-- events, kept in the request's stream): the schedule's number, next and last fire, why it
-- was refused; a broadcast's recipients, progress and estimated finish.
ALTER TABLE schedules
    ADD COLUMN number integer,
    ADD COLUMN next_at timestamptz,
    ADD COLUMN last_fired_at timestamptz,
    ADD COLUMN fired integer NOT NULL DEFAULT 0,
    ADD COLUMN reason text;
ALTER TABLE broadcasts
    ADD COLUMN recipients integer,
    ADD COLUMN handed integer NOT NULL DEFAULT 0,
    ADD COLUMN sent integer NOT NULL DEFAULT 0,
    ADD COLUMN failed integer NOT NULL DEFAULT 0,
    ADD COLUMN skipped integer NOT NULL DEFAULT 0,
    ADD COLUMN started_at timestamptz,
    ADD COLUMN estimated_finish_at timestamptz,
    ADD COLUMN finished_at timestamptz;
