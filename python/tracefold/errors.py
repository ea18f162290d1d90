"""The exceptions tracefold raises.

Every one derives from :class:`TracefoldError`, and where a built-in class
says the same thing, from that class too, so ``except KeyError`` catches an
unknown rollout and ``except OSError`` a failed disk write. Messages name
what they are about: the file and line, the rollout and seq, the id or the
payload's hash.
"""

from __future__ import annotations

__all__ = [
    "TracefoldError",
    "StoreClosedError",
    "StoreLockedError",
    "StoreOpenError",
    "NoStoreError",
    "StorageError",
    "CorruptStoreError",
    "UnknownRolloutError",
    "UnknownPayloadError",
    "PayloadError",
    "PayloadTooLargeError",
    "InvalidInputError",
    "ReduceError",
    "RecorderError",
]


class TracefoldError(Exception):
    """Base class of every tracefold error."""

    def __str__(self) -> str:
        # KeyError would quote the message; every tracefold error prints it
        # as it is.
        return str(self.args[0]) if self.args else ""


class StoreClosedError(TracefoldError, ValueError):
    """The store was closed (``Store.close()``, or its ``with`` block ended)."""


class StoreLockedError(TracefoldError):
    """Another process (or another open ``Store``) holds the store's lock."""


class StoreOpenError(TracefoldError):
    """The store could not be opened: the message says why, with advice."""


class NoStoreError(StoreOpenError, FileNotFoundError):
    """``Store(path, create=False)`` found no store at ``path``."""


class StorageError(TracefoldError, OSError):
    """A disk or database operation failed."""


class CorruptStoreError(TracefoldError):
    """A stored record failed its checks; ``Store.verify()`` lists them all."""


class UnknownRolloutError(TracefoldError, KeyError):
    """No rollout with this id is stored."""


class UnknownPayloadError(TracefoldError, KeyError):
    """No payload with this hash is stored."""


class PayloadError(TracefoldError, TypeError):
    """A payload has no stored form (strict recorders only)."""


class PayloadTooLargeError(TracefoldError, ValueError):
    """A payload is over the store's ``max_payload_bytes``."""


class InvalidInputError(TracefoldError, ValueError):
    """Bad input: a malformed line, a hostile path, a refused event."""


class ReduceError(TracefoldError):
    """The reducer refused an event (the message names its seq);
    ``reduce(..., keep_going=True)`` reduces past it."""


class RecorderError(TracefoldError):
    """The recorder's writer failed or has stopped (from ``flush``)."""
