"""The ways in: the HTTP API, the command-line interface, and the composition root."""
