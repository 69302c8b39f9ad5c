-- Operational (not a projection): the slices of a started broadcast not yet handed to the
-- sender. A broadcast hands the sender at most an hour of sending ahead (Telegram's rate);
-- the firing loop hands each slice when its time comes and deletes it, and a cancel deletes
-- what is left, so a cancelled broadcast stops where the sender's queue ends.
CREATE TABLE broadcast_slices (
    broadcast_id text NOT NULL,
    n integer NOT NULL,
    recipients integer NOT NULL,
    batch jsonb NOT NULL,
    due_at timestamptz NOT NULL,
    correlation_id text NOT NULL,
    PRIMARY KEY (broadcast_id, n)
);
CREATE INDEX broadcast_slices_due ON broadcast_slices (due_at);
