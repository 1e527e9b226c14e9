"""REST routes, one module per area of API.md; each endpoint is one engine call."""
