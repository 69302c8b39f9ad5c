-- A transaction that writes outbox rows tells the relays of its schema when it commits (a
-- NOTIFY is delivered only at commit, and once per transaction however many statements
-- signalled it), so a relay wakes for rows any process or replica wrote, and its poll is
-- only a safety net. One statement-level trigger: no round trip of its own.
CREATE FUNCTION outbox_written() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('chime_outbox_' || TG_TABLE_SCHEMA, '');
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_written AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_written();
