"""Adapters: settings, the event store's configuration, key stores, read-model stores."""
