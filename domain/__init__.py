"""The casebook's rules: aggregates, their events and policies.

Pure Python: imports only ``eventsourcing.domain`` and the standard library.
"""
