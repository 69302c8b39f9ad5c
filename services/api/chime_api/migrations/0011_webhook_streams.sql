-- Webhooks become a projection of their streams `webhook-<id>` (created, secret rotated,
-- paused, resumed, replayed, deleted, deliveries acknowledged or failed): `rebuild`
-- empties and refills the table. `paused` endpoints are not delivered to.
ALTER TABLE webhooks ADD COLUMN paused boolean NOT NULL DEFAULT false;

-- Each endpoint registered before now gets the stream it would have had: created at its
-- current cursor, then (when it delivered any) one acknowledgement of what it delivered.
-- A failing endpoint's retry state is not carried over: it is tried again at once.
UPDATE webhooks SET attempts = 0, last_error = NULL,
    next_attempt_at = CASE WHEN delivered > 0 THEN now() ELSE created_at END;

INSERT INTO events (stream_id, version, event_id, type, envelope)
SELECT 'webhook-' || w.id, 1, 'imported-created-' || w.id, 'webhook.created.v1',
    jsonb_build_object(
        'id', 'imported-created-' || w.id, 'type', 'webhook.created.v1',
        'occurred_at', w.created_at, 'producer', 'api', 'correlation_id', w.id,
        'data', jsonb_build_object(
            'type', 'webhook.created.v1', 'webhook_id', w.id, 'owner', w.owner,
            'api_key_id', w.api_key_id, 'url', w.url, 'secret', w.secret,
            'types', to_jsonb(w.types), 'position', w.position, 'created_at', w.created_at))
FROM webhooks w ORDER BY w.created_at, w.id;

INSERT INTO events (stream_id, version, event_id, type, envelope)
SELECT 'webhook-' || w.id, 2, 'imported-delivered-' || w.id, 'webhook.delivered.v1',
    jsonb_build_object(
        'id', 'imported-delivered-' || w.id, 'type', 'webhook.delivered.v1',
        'occurred_at', w.next_attempt_at, 'producer', 'api', 'correlation_id', w.id,
        'data', jsonb_build_object(
            'type', 'webhook.delivered.v1', 'webhook_id', w.id, 'position', w.position,
            'count', w.delivered, 'delivered_at', w.next_attempt_at))
FROM webhooks w WHERE w.delivered > 0 ORDER BY w.created_at, w.id;
