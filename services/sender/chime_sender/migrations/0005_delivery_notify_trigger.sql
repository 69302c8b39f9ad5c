-- New deliveries wake every replica's delivery loop when their transaction commits: one
-- NOTIFY per inserting statement from a trigger, instead of a round trip per delivery.
CREATE FUNCTION deliveries_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('chime_sender_deliveries', '');
    RETURN NULL;
END $$;
CREATE TRIGGER deliveries_inserted AFTER INSERT ON deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION deliveries_notify();
