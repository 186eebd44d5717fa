"""Routers, one per part of the HTTP API."""
