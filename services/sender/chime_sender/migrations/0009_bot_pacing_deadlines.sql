-- The deadlines of each bot token's last `token_rate` free send slots, oldest first: how late
-- each granted call may still start. A free slot never starts before the deadline of the slot
-- `token_rate` slots earlier plus the window, so calls made late (a busy sender) still never
-- put more than `token_rate` sends in any window at Telegram. Empty for rows granted before:
-- those slots were spaced by the interval and kept half the margin, which the rule allows.
ALTER TABLE bot_pacing ADD COLUMN deadlines timestamptz[] NOT NULL DEFAULT '{}';
