"""The api's pure rules: keys and scopes, notifications, cursors, idempotency, problems."""
