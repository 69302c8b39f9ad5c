-- When an edit or a deletion of a sent notification's message was last asked for.
ALTER TABLE notifications ADD COLUMN edited_at timestamptz, ADD COLUMN deleted_at timestamptz;
