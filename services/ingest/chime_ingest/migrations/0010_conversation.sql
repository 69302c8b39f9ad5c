-- The conversation's state of a chat, folded from its stream like the rest of `chats`:
-- language (language.set.v1), stopped (chat.stopped.v1 / chat.resumed.v1), the bot's own
-- membership (chat.member.changed.v1: blocked, kicked, promoted; a channel where it may
-- post is a broadcast target) and a group's move to a supergroup (chat.migrated.v1).
ALTER TABLE chats
    ADD COLUMN language text,
    ADD COLUMN stopped boolean NOT NULL DEFAULT false,
    ADD COLUMN chat_type text,
    ADD COLUMN member text,
    ADD COLUMN can_post boolean,
    ADD COLUMN migrated_to bigint;

-- Each bot's username as Telegram last showed it (chat.member.changed.v1), so a group's
-- `/cmd@name` is told apart from a command to another bot.
CREATE TABLE bots (
    bot_id bigint PRIMARY KEY,
    username text NOT NULL
);
COMMENT ON TABLE bots IS 'projection of chat.member.changed.v1 (bot_username) in the chat streams';

-- Answers owed to pressed buttons: written with the interpretation that decided them, sent
-- by the callback answerer as soon as they commit (NOTIFY), then deleted. Machinery, not a
-- projection: an answer Telegram no longer takes (older than a few seconds) is dropped.
CREATE TABLE callback_answers (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    bot_id bigint NOT NULL,
    query_id text NOT NULL,
    text text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE callback_answers IS 'operational: answerCallbackQuery calls owed, sent after commit';
