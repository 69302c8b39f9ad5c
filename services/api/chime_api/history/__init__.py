"""History and stats of conversations: a projection of messages received and of what Chime
sent, partitioned by day and retained by dropping whole partitions, with rollups per hour
and day maintained as facts are applied."""
