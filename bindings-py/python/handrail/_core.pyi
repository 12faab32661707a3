"""Native core of the ``handrail`` package; import from ``handrail`` instead."""

from typing import Any, Iterable, Literal, final

__all__ = [
    "__version__",
    "AuthError",
    "ConflictError",
    "DecryptionFailed",
    "DecryptionFailedError",
    "ExpiredError",
    "Firewall",
    "FirewallSession",
    "Reason",
    "Verdict",
    "HandrailError",
    "InvalidPayload",
    "InvalidPayloadError",
    "NotFoundError",
    "Protocol",
    "ProofError",
    "ProtocolError",
    "RateLimited",
    "RateLimitedError",
    "Record",
    "ServerError",
    "Wait",
    "WaitTimeout",
    "WaitTimeoutError",
    "WebhookError",
    "canonicalize",
    "idempotency_key",
    "retry_network",
    "retry_response",
    "verify_webhook",
    "Execution",
    "Keyring",
    "ProofSigner",
    "ProofVerifier",
    "Webhook",
    "apply_patch",
    "diff",
    "fingerprint",
    "idempotency_begin",
    "proof_digest",
    "request_priority",
    "request_status",
    "review_edit",
    "tool_call_key",
    "guard_call_key",
    "guard_plan",
    "guard_outcome",
    "guard_review_context",
    "guard_observation",
    "decision_text",
    "validate_edit",
    "verify_letsping",
]

__version__: str

class HandrailError(ValueError):
    """Raised when Handrail rejects its input.

    ``code`` is a stable, machine-readable ``snake_case`` string such as ``"json_syntax"``
    or ``"duplicate_key"``; compare against it rather than against the message. ``kind`` is
    the error's stable category (``"invalid_input"``, ``"auth"``, ``"proof"``, …), which
    decides its class. ``status`` (the HTTP status of the server's answer), ``id`` (the
    request), ``field`` (``"payload"``, ``"state"``, …) and ``reason`` (the server's own
    code, such as ``"already_decided"``) are ``None`` where the error has none.
    """

    code: str
    kind: str | None
    status: int | None
    id: str | None
    field: str | None
    reason: str | None

class AuthError(HandrailError):
    """The API key is missing, unknown or not allowed to do this (kinds ``auth``, ``forbidden``)."""

class NotFoundError(HandrailError):
    """No such request in this key's project."""

class ConflictError(HandrailError):
    """The server's state forbids it (id taken, already decided, idempotency mismatch).

    ``reason`` is the server's code (``"id_taken"``, ``"already_decided"``, …) when it sent one.
    """

class InvalidPayloadError(HandrailError):
    """The server or the schema refused the input."""

class RateLimitedError(HandrailError):
    """Too many requests; ``retry_after`` is in seconds."""

    retry_after: int

class ServerError(HandrailError):
    """The server failed after the retries."""

class ProtocolError(HandrailError):
    """The server's answer does not have the promised shape."""

class DecryptionFailedError(HandrailError):
    """An envelope did not open, or a plain value came where an envelope belongs."""

class ExpiredError(HandrailError):
    """Nobody decided before the request's deadline: do not act."""

class WaitTimeoutError(HandrailError):
    """The caller's wait timeout passed while the request was pending."""

class ProofError(HandrailError):
    """A decision proof did not verify."""

class WebhookError(HandrailError):
    """A webhook did not verify."""

# The earlier names, kept as aliases of the same classes.
InvalidPayload = InvalidPayloadError
RateLimited = RateLimitedError
DecryptionFailed = DecryptionFailedError
WaitTimeout = WaitTimeoutError

_Headers = list[tuple[str, str]]
_Request = tuple[str, str, _Headers, bytes, int]
"""``(method, url, headers, body, timeout_secs)``."""

@final
class Record:
    """A request as the server returned it (payloads as stored)."""

    @property
    def id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def has_snapshot(self) -> bool: ...

@final
class Wait:
    """One wait for a decision (``Protocol.wait`` makes one)."""

    @property
    def id(self) -> str: ...
    def request(self, protocol: Protocol, now_ms: int) -> _Request: ...
    def on_response(
        self, protocol: Protocol, status: int, headers: _Headers, body: bytes, now_ms: int
    ) -> tuple[str, Any]: ...
    def on_network_error(self, now_ms: int) -> int: ...

@final
class Protocol:
    """The protocol client: builds requests and reads answers; sends nothing itself."""

    def __new__(
        cls,
        base_url: str,
        api_key: str,
        encryption_key: str | None = None,
        *,
        expect_project: str | None = None,
        expect_issuer: str | None = None,
    ) -> Protocol: ...
    @property
    def encrypts(self) -> bool: ...
    @property
    def has_jwks(self) -> bool: ...
    def create(
        self,
        service: str,
        action: str,
        payload: str,
        priority: str | None = None,
        role: str | None = None,
        schema: str | None = None,
        timeout_secs: int | None = None,
        context: str | None = None,
        state: str | None = None,
        idempotency_scope: str | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[str, str, _Request, _Request | None]: ...
    def read(self, id: str) -> _Request: ...
    def parse_record(self, status: int, headers: _Headers, body: bytes) -> Record: ...
    def outcome(
        self, record: Record
    ) -> (
        tuple[
            str, str | None, str | None, str | None, str | None, str | None, str | None, int
        ]
        | None
    ): ...
    def payload(self, record: Record) -> str: ...
    def wait(self, id: str, now_ms: int, timeout_ms: int | None = None) -> Wait: ...
    def snapshot_download(self, id: str) -> _Request: ...
    def open_snapshot(self, id: str, status: int, headers: _Headers, body: bytes) -> str: ...
    def parse_snapshot_stored(self, status: int, headers: _Headers, body: bytes) -> None: ...
    def observations(self, agent: str, events: str) -> _Request: ...
    def parse_observations(self, status: int, headers: _Headers, body: bytes) -> tuple[int, int]: ...
    def jwks_request(self) -> _Request: ...
    def load_jwks(self, status: int, headers: _Headers, body: bytes) -> None: ...
    def verify_proof(self, record: Record, proof: str, now: int) -> str: ...

def retry_response(status: int, headers: _Headers, body: bytes, attempt: int) -> int | None:
    """Delay (ms) before retrying a call that got this answer; ``None``: do not retry."""

def retry_network(attempt: int) -> int | None:
    """Delay (ms) before retrying a call whose transport failed; ``None``: give up."""

def verify_webhook(
    secret: str, headers: _Headers, body: bytes, now: int
) -> tuple[str, str, int, Record]:
    """Verifies a webhook; returns ``(webhook_id, type, timestamp, record)``."""

def canonicalize(data: str | bytes) -> str:
    """Return the canonical form (RFC 8785, JSON Canonicalization Scheme) of JSON text.

    Raises ``HandrailError`` when the input is not strict I-JSON (RFC 7493).
    """

def idempotency_key(parts: list[bytes]) -> str:
    """An idempotency key (``idk_…``) derived from ``parts``, length-prefixed and hashed."""

@final
class Reason:
    """Why a call stepped off the profile: a stable ``code`` and a sentence for people."""

    def __new__(cls, code: str, text: str) -> Reason: ...
    @property
    def code(self) -> str:
        """Stable code: ``"value_unseen"``, ``"transition_new"``, ``"policy_deny"``, …"""
    @property
    def text(self) -> str:
        """A human sentence; may change between versions."""
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Verdict:
    """The firewall's answer for one call."""

    def __new__(
        cls,
        action: Literal["allow", "review", "block"],
        score: float,
        reasons: Iterable[Reason],
        enforced: bool,
    ) -> Verdict: ...
    @property
    def action(self) -> Literal["allow", "review", "block"]:
        """``"allow"``, ``"review"`` (ask a person first) or ``"block"``."""
    @property
    def score(self) -> float:
        """How far the call steps off the profile, 0–1."""
    @property
    def reasons(self) -> tuple[Reason, ...]:
        """Why, strongest first."""
    @property
    def enforced(self) -> bool:
        """False in shadow mode: report the verdict but let the call run."""
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class FirewallSession:
    """One agent session between calls (``Firewall.begin`` makes one)."""

    @property
    def id(self) -> str:
        """The session id given to ``Firewall.begin``."""

@final
class Firewall:
    """An agent's behavioral firewall; use ``handrail.Firewall``, which wraps this class.

    ``policy`` and ``config`` are JSON text of the core's ``Policy`` and ``Config``; call
    arguments are JSON text (``str``/``bytes``) or a JSON-like Python value, read natively;
    ``readiness`` and ``graph`` return JSON text.
    """

    mode: Literal["shadow", "enforce"]
    def __new__(
        cls, policy: str | None = None, config: str | None = None, mode: str = "shadow"
    ) -> Firewall: ...
    def begin(self, session_id: str, context: str = "") -> FirewallSession: ...
    def check(
        self,
        session: FirewallSession,
        tool: str,
        args: Any,
        now: int,
        effect: str | None = None,
        cost_usd: float | None = None,
    ) -> Verdict: ...
    def record(
        self,
        session: FirewallSession,
        tool: str,
        args: Any,
        outcome: str,
        now: int,
        output: str | None = None,
        effect: str | None = None,
        cost_usd: float | None = None,
    ) -> None: ...
    def observe(
        self,
        session: FirewallSession,
        tool: str,
        args: Any,
        output: str | None = None,
        effect: str | None = None,
    ) -> None: ...
    def readiness(self) -> str: ...
    def graph(self, now: int) -> str: ...
    def profile_bytes(self) -> bytes: ...
    def load_profile(self, data: bytes) -> None: ...
    def merge_profile(self, data: bytes) -> None: ...

def tool_call_key(scope: str, tool: str, args: Any) -> str:
    """The idempotency key of one tool call (scope, tool, canonical JSON arguments).

    ``args`` is JSON text (``str``/``bytes``) or a Python value (dict with str keys, list,
    tuple, int, float, bool, None), canonicalized natively to the same key.
    """

def guard_call_key(scope: str, service: str, tool: str, args: Any) -> str:
    """The guard's key of one call (scope, service, tool, canonical JSON arguments): the
    exactly-once key of the call and the review request's ``Idempotency-Key``."""

def guard_plan(action: str, enforced: bool) -> Literal["run", "shadow", "block", "ask"]:
    """What the guard does with a verdict: ``"shadow"`` when it would hold the call but is
    not enforced (run it, ask nobody)."""

def guard_outcome(plan: str, decision: str | None = None) -> Literal["ran", "approved", "rejected"] | None:
    """What the firewall records for a call that ended under ``plan`` (``None``: nothing)."""

def guard_review_context(verdict: Verdict, task: str | None = None) -> str:
    """The review request's ``context`` as JSON text: ``{"firewall": {...}, "task"?}``."""

def guard_observation(
    key: str,
    session: str,
    tool: str,
    args: Any,
    outcome: str,
    at: int,
    context: str | None = None,
    effect: str | None = None,
    output: str | None = None,
) -> str:
    """The ``POST /v1/observations`` event (JSON text) for a recorded call."""

def decision_text(status: str, reason: str | None = None, summary: str | None = None, payload: Any = None) -> str:
    """The text a model acts on for a decision (``"APPROVED"``, ``"REJECTED: <reason>"``, …)."""

def fingerprint(method: str, path: str, body: bytes) -> str:
    """The fingerprint (hex SHA-256) of a request: method, path and canonical JSON body."""

@final
class Execution:
    """One execution under one idempotency key."""

    @property
    def key(self) -> str: ...
    @property
    def attempts(self) -> int: ...
    @property
    def state(self) -> Literal["pending", "committed", "failed"]: ...
    def commit(self, status: int, body: str, now: int) -> Execution: ...
    def fail(self, status: int, body: str, retryable: bool, now: int) -> Execution: ...
    def to_json(self) -> str: ...
    @staticmethod
    def from_json(text: str) -> Execution: ...

def idempotency_begin(
    existing: Execution | None,
    key: str,
    method: str,
    path: str,
    body: bytes,
    now: int,
    lease_secs: int,
) -> tuple[Literal["proceed", "replay", "conflict", "mismatch"], Any]:
    """``("proceed", Execution)``, ``("replay", (status, body))``, ``("conflict", lease_until)``
    or ``("mismatch", None)``."""

@final
class Keyring:
    """Envelope keys by key id (AES-256-GCM), with an optional legacy LetsPing key."""

    def __new__(cls, keys: list[tuple[str, str]], legacy: str | None = None) -> Keyring: ...
    def seal(
        self,
        kid: str,
        request_id: str,
        field: str,
        plaintext: bytes,
        iv: bytes | None = None,
        data_key: bytes | None = None,
    ) -> bytes:
        """The envelope's JSON text (ASCII) as ``bytes``."""
    def seal_legacy(self, plaintext: bytes, iv: bytes) -> bytes: ...
    def open(self, envelope: str | bytes, request_id: str, field: str) -> bytes: ...

@final
class Webhook:
    """Webhook secrets: signs with the first, verifies against any."""

    def __new__(cls, secrets: list[str]) -> Webhook: ...
    def export(self) -> list[str]: ...
    def sign(self, msg_id: str, timestamp: int, body: bytes) -> str: ...
    def verify(
        self,
        msg_id: str,
        timestamp: str,
        signature: str,
        body: bytes,
        now: int,
        tolerance: int = 300,
    ) -> int: ...

def verify_letsping(
    secret: bytes, header: str, body: bytes, now_ms: int, tolerance_ms: int
) -> int:
    """Verifies a LetsPing ``x-letsping-signature`` header; returns its timestamp (ms).

    For receivers migrating from LetsPing: its MAC covers the body only, so a captured
    delivery replays with a fresh ``t``; new receivers use :class:`Webhook`.
    """

def proof_digest(json: str | bytes) -> str:
    """base64url SHA-256 of the canonical form of JSON text."""

@final
class ProofSigner:
    """Signs decision proofs with an Ed25519 key."""

    def __new__(cls, kid: str, seed: bytes) -> ProofSigner: ...
    def public_jwk(self) -> str: ...
    def sign(self, claims: str | bytes) -> str: ...

@final
class ProofVerifier:
    """Verifies decision proofs against a JWKS."""

    def __new__(cls, jwks: str | bytes) -> ProofVerifier: ...
    def verify(
        self,
        token: str,
        now: int,
        request_id: str,
        request_digest: str | None = None,
        decision: str | None = None,
        patched_digest: str | None = None,
        *,
        project: str | None = None,
        issuer: str | None = None,
    ) -> str: ...

def diff(before: str | bytes, after: str | bytes) -> tuple[str, str]:
    """The RFC 6902 diff from ``before`` to ``after``: ``(ops as JSON text, summary)``."""

def apply_patch(doc: str | bytes, ops: str | bytes) -> str:
    """Applies RFC 6902 ``ops`` to ``doc``; returns JSON text."""

def validate_edit(schema: str | bytes, edited: str | bytes) -> None:
    """Checks an edited payload against a JSON Schema."""

def review_edit(
    original: str | bytes, edited: str | bytes, schema: str | bytes | None = None
) -> tuple[str, str]:
    """Validates ``edited`` against ``schema`` (when given) and diffs it from ``original``."""

def request_status(name: str) -> str:
    """The canonical name of a request status; raises on an unknown one."""

def request_priority(name: str) -> str:
    """The canonical name of a priority; raises on an unknown one."""
