"""Routers, one per part of API.md."""
