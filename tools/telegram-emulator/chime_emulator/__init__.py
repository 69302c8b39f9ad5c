"""A local stand-in for the Telegram Bot API, for tests, benchmarks and the demo stack."""
