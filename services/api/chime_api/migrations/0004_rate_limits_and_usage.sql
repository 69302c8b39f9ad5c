-- Machinery, not projections. One token bucket per key, shared by every api replica: a
-- request takes a token in the same statement that authenticates its key (row lock, so
-- replicas never both spend the last token). `rate`/`burst` are the limits it was last
-- refilled with.
CREATE TABLE rate_buckets (
    api_key_id text PRIMARY KEY,
    tokens double precision NOT NULL,
    refilled_at timestamptz NOT NULL,
    rate double precision NOT NULL,
    burst integer NOT NULL,
    granted boolean NOT NULL
);

-- Requests per key per UTC day, counted in memory by each replica and added here about
-- once a second (a crash loses at most that second's counts). Messages and failures are
-- read from the notifications projection.
CREATE TABLE usage_requests (
    api_key_id text NOT NULL,
    day date NOT NULL,
    requests bigint NOT NULL DEFAULT 0,
    limited bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (api_key_id, day)
);
CREATE INDEX notifications_by_key_day ON notifications (api_key_id, created_at);
