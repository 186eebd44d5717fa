"""Masks for personal data shown to roles that need to know it exists, not what it is."""

from __future__ import annotations


def mask_phone(phone: str) -> str:
    """138****5678: keep the carrier prefix and the last four digits."""
    if len(phone) <= 7:
        return "*" * len(phone)
    return f"{phone[:3]}{'*' * (len(phone) - 7)}{phone[-4:]}"


def mask_id_number(id_number: str) -> str:
    """Keep the first six (region) and last four characters."""
    if len(id_number) <= 10:
        return "*" * len(id_number)
    return f"{id_number[:6]}{'*' * (len(id_number) - 10)}{id_number[-4:]}"


def mask_name(name: str) -> str:
    """张** : the family name only."""
    return name[:1] + "*" * max(len(name) - 1, 1)
