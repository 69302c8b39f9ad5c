"""How history is reached: broker subscribers, the maintenance loop, the HTTP routes."""
