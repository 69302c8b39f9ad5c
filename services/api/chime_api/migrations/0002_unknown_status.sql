-- A delivery whose outcome is unknown (Telegram may have it) is not a failure: its own status.
ALTER TABLE notifications DROP CONSTRAINT notifications_status_check,
    ADD CONSTRAINT notifications_status_check
        CHECK (status IN ('accepted', 'sent', 'failed', 'unknown'));
