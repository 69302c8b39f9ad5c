-- Operational table (machinery, not domain state): each bot token's circuit breaker, shared
-- by every sender replica, so one replica's view of a dead token is everyone's. A row is
-- written only when something changes (a failure, the first success after one, a probe);
-- a bot without a row is closed. Times are the database's clock.
--   closed:    opened_at IS NULL; `failures` counts consecutive failures.
--   open:      clock_timestamp() < opened_at + cooldown_seconds; nobody calls.
--   half-open: the cooldown has passed; one replica claims the probe (probe_owner, the
--              delivery it sends) until probe_until, so a prober that died frees it.
-- An operator closes a breaker by hand with: DELETE FROM bot_breakers WHERE bot_id = <id>;
CREATE TABLE bot_breakers (
    bot_id bigint PRIMARY KEY,
    failures integer NOT NULL DEFAULT 0,
    opened_at timestamptz,
    cooldown_seconds double precision NOT NULL DEFAULT 0,
    probe_owner text,
    probe_until timestamptz
);
