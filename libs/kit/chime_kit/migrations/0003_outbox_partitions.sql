-- The relay is partitioned: each row carries the partition of its ordering key (a chat, else
-- its correlation), and a relay publishes a partition only while it holds that partition's
-- advisory lock. Rows pending before this migration all fall in partition 0, in id order.
ALTER TABLE outbox ADD COLUMN partition smallint NOT NULL DEFAULT 0 CHECK (partition >= 0);
