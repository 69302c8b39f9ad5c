-- Paid broadcasts (`allow_paid_broadcast`) pace in a lane of their own per bot token: the
-- next paid slot, and until when the bot's free sends wait because paid ones are still in
-- Telegram's one-second window. NULL: the bot has not sent a paid broadcast.
ALTER TABLE bot_pacing
    ADD COLUMN next_paid_slot_at timestamptz,
    ADD COLUMN paid_clear_at timestamptz;
