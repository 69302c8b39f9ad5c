"""Pure maths of history and stats: buckets, the latency histogram, facts and rollups."""
