-- A chat's reminders still to fire, for /list and for moving them when the chat's time
-- zone changes (no scan of the whole due index).
CREATE INDEX reminders_chat ON reminders (bot_id, chat_id, due_at) WHERE state = 'scheduled';
