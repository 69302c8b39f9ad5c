CREATE TABLE notes (id text PRIMARY KEY, body text NOT NULL);

-- Every application of an event, without a unique key, so a duplicate would show.
CREATE TABLE applied (seq bigserial PRIMARY KEY, event_id text NOT NULL, txid bigint NOT NULL);
