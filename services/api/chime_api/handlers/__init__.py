"""What the api does on each request and event, one module per resource. No web or broker
framework imports: entrypoints call these with a unit of work or a connection."""
