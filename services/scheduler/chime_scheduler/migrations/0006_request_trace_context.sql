-- The trace context of the request behind each schedule and timed broadcast, so the span
-- that fires an occurrence hours later links to the request's span (a new trace, not a
-- child: the request's trace would be as long as the wait). Folded from the envelopes of
-- schedule.created.v1 (`traceparent`) and of the last schedule.changed.v1 an owner's update
-- recorded (`updated_traceparent`), and of broadcast.requested.v1, so `rebuild` re-derives
-- them. Rows of earlier schedules have none: their firings start unlinked traces.
ALTER TABLE schedules ADD COLUMN traceparent text;
ALTER TABLE schedules ADD COLUMN updated_traceparent text;
ALTER TABLE broadcasts ADD COLUMN traceparent text;
-- Operational: the firing span a held slice continues when it is handed to the sender.
ALTER TABLE broadcast_slices ADD COLUMN traceparent text;
