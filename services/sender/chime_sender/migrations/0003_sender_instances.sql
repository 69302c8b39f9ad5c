-- Operational table (machinery, not domain state): each running sender process and its
-- heartbeat. Each beat also promises `calls_until`: the process calls no claim whose send
-- slot starts later than that (database clock) until a later beat has moved it. A process
-- whose heartbeat went stale is dead; its claims with a slot past its last promise were
-- never called and are pending again at once; only the others were maybe in flight, and
-- their outcome is unknown.
CREATE TABLE sender_instances (
    instance_id text PRIMARY KEY,
    -- Stable across restarts of one process slot (a pod's name and pid): a process that
    -- finds a predecessor of its own name knows that one is dead without waiting.
    name text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    heartbeat_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    calls_until timestamptz NOT NULL
);

-- Who holds a 'sending' delivery, and the start of its bot's send slot (database clock).
ALTER TABLE deliveries ADD COLUMN claimed_by text, ADD COLUMN slot_at timestamptz;
CREATE INDEX deliveries_claimed ON deliveries (claimed_by) WHERE state = 'sending';
