"""Handrail: human-approval rails for AI agents, backed by a Rust core.

The functions here are implemented in Rust (``handrail._core``) and re-exported unchanged;
import them from ``handrail``, not from ``handrail._core``. :class:`Firewall` (the
behavioral firewall) is a thin Python class over the Rust one that takes dicts and any
JSON-serializable call arguments and returns :class:`Verdict` dataclasses.

Every error Handrail raises for bad input is a :class:`HandrailError`, a ``ValueError``
whose ``code`` attribute is a stable machine-readable string; the client's errors are
subclasses of it (:class:`AuthError`, :class:`ExpiredError`, :class:`WaitTimeout`,
:class:`RateLimited`, :class:`DecryptionFailed`, …).

:class:`Client` and :class:`AsyncClient` (``handrail/client.py``) talk to a Handrail server
over httpx; every protocol rule they follow is the core's.
"""

from handrail._core import (
    AuthError,
    ConflictError,
    DecryptionFailed,
    ExpiredError,
    HandrailError,
    InvalidPayload,
    NotFoundError,
    ProofError,
    ProtocolError,
    RateLimited,
    ServerError,
    WaitTimeout,
    WebhookError,
    __version__,
    canonicalize,
)
from handrail._firewall import Firewall, FirewallSession, Reason, Verdict
from handrail.client import AsyncClient, Client, Decision, NetworkError, WebhookEvent, once

__all__ = [
    "AsyncClient",
    "AuthError",
    "Client",
    "ConflictError",
    "Decision",
    "DecryptionFailed",
    "ExpiredError",
    "Firewall",
    "FirewallSession",
    "HandrailError",
    "InvalidPayload",
    "NetworkError",
    "NotFoundError",
    "ProofError",
    "ProtocolError",
    "RateLimited",
    "Reason",
    "ServerError",
    "Verdict",
    "WaitTimeout",
    "WebhookError",
    "WebhookEvent",
    "__version__",
    "canonicalize",
    "once",
]
