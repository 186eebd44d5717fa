"""Field encryption for personal data, one key per household (crypto-shredding).

Each household gets a random 256-bit data key. The key store keeps it only
wrapped (AES-GCM) by the master key, which comes from settings or a key file and
never from the database. Destroying a household's wrapped key makes every
ciphertext of that household unreadable, while the events that carry the
ciphertext, and the hash chain over them, stay untouched.

A sealed value reads ``v1.<base64url(nonce ‖ ciphertext)>``; the household ID is
the associated data, so a ciphertext copied onto another household fails to open.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol
from uuid import UUID

import psycopg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SEALED_PREFIX = "v1."
NONCE_BYTES = 12


class KeyStore(Protocol):
    def rewrap(self, transform: Callable[[UUID, bytes], bytes]) -> int: ...

    def put(self, household_id: UUID, wrapped: bytes) -> None: ...

    def get(self, household_id: UUID) -> bytes | None: ...

    def delete(self, household_id: UUID) -> None: ...


class MasterKeyError(Exception):
    pass


def load_master_key(value: str | None, path: Path | None) -> bytes:
    """The 32-byte master key from base64 text or a file holding that text."""
    return load_key(value, path, name="master key", setting="ANJU_MASTER_KEY", error=MasterKeyError)


def load_key(
    value: str | None, path: Path | None, *, name: str, setting: str, error: type[Exception]
) -> bytes:
    """A 32-byte key from base64 text or a file holding it; ``error`` says what is wrong."""
    if value is None and path is not None:
        try:
            value = path.read_text("ascii").strip()
        except OSError as failure:
            raise error(f"cannot read the {name} file {path}: {failure}") from None
    if not value:
        raise error(f"set {setting} or {setting}_FILE (base64 of 32 bytes)")
    try:
        key = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise error(f"the {name} is not valid base64") from None
    if len(key) != 32:
        raise error(f"the {name} must be 32 bytes")
    return key


def new_master_key_text() -> str:
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode("ascii")


class Vault:
    """Implements ``application.ports.PersonalDataVault``."""

    def __init__(self, keys: KeyStore, master_key: bytes) -> None:
        self._keys = keys
        self._master = AESGCM(master_key)
        self._cache: dict[UUID, AESGCM] = {}
        self._lock = threading.Lock()

    def create_key(self, household_id: UUID) -> None:
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(NONCE_BYTES)
        wrapped = nonce + self._master.encrypt(nonce, data_key, _key_aad(household_id))
        self._keys.put(household_id, wrapped)
        with self._lock:
            self._cache[household_id] = AESGCM(data_key)

    def secret(self, key_id: UUID) -> bytes:
        """A 32-byte secret kept under ``key_id`` like a household's key; made on first use."""
        wrapped = self._keys.get(key_id)
        if wrapped is None:
            # Another process may have made it first: then theirs is the one.
            with contextlib.suppress(sqlite3.IntegrityError, psycopg.IntegrityError):
                self.create_key(key_id)
            wrapped = self._keys.get(key_id)
        if wrapped is None:
            raise MasterKeyError("the key store did not keep a new key")
        return self._unwrap(key_id, wrapped)

    def seal(self, household_id: UUID, plaintext: str) -> str:
        cipher = self._cipher(household_id)
        if cipher is None:
            raise MasterKeyError(f"household {household_id} has no key")
        nonce = os.urandom(NONCE_BYTES)
        sealed = nonce + cipher.encrypt(nonce, plaintext.encode("utf-8"), household_id.bytes)
        return SEALED_PREFIX + base64.urlsafe_b64encode(sealed).decode("ascii")

    def holds_key(self, household_id: UUID) -> bool:
        return self._cipher(household_id) is not None

    def unseal(self, household_id: UUID, token: str) -> str | None:
        cipher = self._cipher(household_id)
        if cipher is None or not token.startswith(SEALED_PREFIX):
            return None
        try:
            raw = base64.urlsafe_b64decode(token[len(SEALED_PREFIX) :])
            plain = cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], household_id.bytes)
            return plain.decode("utf-8")
        except (InvalidTag, binascii.Error, ValueError):
            # Not a token of this household (or not a token at all): nothing to read.
            return None

    def rotate(self, new_master_key: bytes) -> int:
        """Re-wrap every household key under a new master key; events stay as they are."""
        new_master = AESGCM(new_master_key)

        def rewrapped(household_id: UUID, wrapped: bytes) -> bytes:
            data_key = self._unwrap(household_id, wrapped)
            nonce = os.urandom(NONCE_BYTES)
            return nonce + new_master.encrypt(nonce, data_key, _key_aad(household_id))

        count = self._keys.rewrap(rewrapped)
        with self._lock:
            self._master = new_master
            self._cache.clear()
        return count

    def shred(self, household_id: UUID) -> None:
        self._keys.delete(household_id)
        with self._lock:
            self._cache.pop(household_id, None)

    def _cipher(self, household_id: UUID) -> AESGCM | None:
        with self._lock:
            cached = self._cache.get(household_id)
        if cached is not None:
            return cached
        wrapped = self._keys.get(household_id)
        if wrapped is None:
            return None
        cipher = AESGCM(self._unwrap(household_id, wrapped))
        with self._lock:
            self._cache[household_id] = cipher
        return cipher

    def _unwrap(self, household_id: UUID, wrapped: bytes) -> bytes:
        try:
            return self._master.decrypt(
                wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _key_aad(household_id)
            )
        except InvalidTag:
            raise MasterKeyError("the master key does not open this household's key") from None


def _key_aad(household_id: UUID) -> bytes:
    return b"anju-household-key:" + household_id.bytes
