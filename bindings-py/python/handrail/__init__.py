"""Handrail: human-approval rails for AI agents, backed by a Rust core.

The functions here are implemented in Rust (``handrail._core``) and re-exported unchanged;
import them from ``handrail``, not from ``handrail._core``. :class:`Firewall` (the
behavioral firewall) is a thin Python class over the Rust one that takes dicts as call
arguments (walked in Rust, no JSON text in between) and returns the core's native
:class:`Verdict` objects.

Every error Handrail raises for bad input is a :class:`HandrailError`, a ``ValueError``
whose ``code`` attribute is a stable machine-readable string; the client's errors are
subclasses of it (:class:`AuthError`, :class:`ExpiredError`, :class:`WaitTimeoutError`,
:class:`RateLimitedError`, :class:`DecryptionFailedError`, …), chosen by the error's
``kind``, which the core decides; the TypeScript SDK throws classes of the same names with
the same ``code``, ``kind``, ``status``, ``id`` and ``field``. The earlier names
``InvalidPayload``, ``RateLimited``, ``DecryptionFailed`` and ``WaitTimeout`` remain, as
aliases of the same classes.

:class:`Client` and :class:`AsyncClient` (``handrail/client.py``) talk to a Handrail server
over httpx; every protocol rule they follow is the core's.

The primitives are the core's too, one call each (JSON crosses as text, ``json.dumps`` it;
:func:`tool_call_key` also takes the Python value itself and gives the same key):

- idempotency: :func:`idempotency_key`, :func:`tool_call_key`, :func:`fingerprint`,
  :func:`idempotency_begin` and :class:`Execution` (run, replay or refuse a retried request);
- field envelopes: :class:`Keyring` (``seal``/``open``, AES-256-GCM bound to request and field);
- webhooks: :class:`Webhook` (Standard Webhooks ``v1``/``v1a``, ``now`` passed in); LetsPing's
  own header, for receivers migrating from LetsPing, is :func:`handrail.compat.verify_letsping`;
- decision proofs: :class:`ProofVerifier`, :class:`ProofSigner`, :func:`proof_digest`;
- edits: :func:`diff`, :func:`apply_patch`, :func:`validate_edit`, :func:`review_edit`,
  :func:`request_status`, :func:`request_priority`.
"""

from handrail._core import (
    AuthError,
    ConflictError,
    DecryptionFailed,
    DecryptionFailedError,
    ExpiredError,
    HandrailError,
    InvalidPayload,
    InvalidPayloadError,
    NotFoundError,
    ProofError,
    ProtocolError,
    RateLimited,
    RateLimitedError,
    ServerError,
    WaitTimeout,
    WaitTimeoutError,
    WebhookError,
    Execution,
    Keyring,
    ProofSigner,
    ProofVerifier,
    Webhook,
    __version__,
    apply_patch,
    canonicalize,
    diff,
    fingerprint,
    idempotency_begin,
    idempotency_key,
    proof_digest,
    request_priority,
    request_status,
    review_edit,
    tool_call_key,
    validate_edit,
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
    "DecryptionFailedError",
    "ExpiredError",
    "Firewall",
    "FirewallSession",
    "HandrailError",
    "InvalidPayload",
    "InvalidPayloadError",
    "NetworkError",
    "NotFoundError",
    "ProofError",
    "ProtocolError",
    "RateLimited",
    "RateLimitedError",
    "Reason",
    "ServerError",
    "Verdict",
    "WaitTimeout",
    "WaitTimeoutError",
    "WebhookError",
    "WebhookEvent",
    "__version__",
    "canonicalize",
    "once",
    "Execution",
    "Keyring",
    "ProofSigner",
    "ProofVerifier",
    "Webhook",
    "apply_patch",
    "diff",
    "fingerprint",
    "idempotency_begin",
    "idempotency_key",
    "proof_digest",
    "request_priority",
    "request_status",
    "review_edit",
    "tool_call_key",
    "validate_edit",
]
