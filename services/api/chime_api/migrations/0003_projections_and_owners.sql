-- Keys and notifications are projections of their streams: `rebuild` empties and refills
-- them, so nothing references them any more.
ALTER TABLE notifications DROP CONSTRAINT notifications_api_key_id_fkey;
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_api_key_id_fkey;

-- A key belongs to a team (or to itself); a rotated key works until `expires_at`;
-- NULL limits mean the configured default.
ALTER TABLE api_keys
    ADD COLUMN team text,
    ADD COLUMN expires_at timestamptz,
    ADD COLUMN rate_per_second double precision,
    ADD COLUMN burst integer,
    ADD COLUMN rotated_from text;
UPDATE api_keys SET scopes = ARRAY(
    SELECT CASE s WHEN 'notifications:write' THEN 'notify'
                  WHEN 'notifications:read' THEN 'read' ELSE s END
    FROM unnest(scopes) AS s);

-- What a caller sees: everything its owner (its team, or the key itself) asked for.
ALTER TABLE notifications ADD COLUMN owner text;
UPDATE notifications SET owner = 'key:' || api_key_id;
ALTER TABLE notifications ALTER COLUMN owner SET NOT NULL;
DROP INDEX notifications_by_key;
CREATE INDEX notifications_by_owner ON notifications (owner, created_at DESC, id DESC);

-- Not derivable from the events (a rebuild would change it): the events hold the times.
ALTER TABLE notifications DROP COLUMN updated_at;
