"""The Handrail client: ask a person, wait for the decision, act on it.

Every rule of the wire protocol — request ids, idempotency keys, envelopes, status codes,
long-poll and backoff, proofs, webhooks — lives in the Rust core (``handrail._core.Protocol``).
This module only moves bytes with httpx, sleeps when the core says so, and turns the core's
answers into dataclasses.

>>> client = Client()  # HANDRAIL_URL, HANDRAIL_API_KEY, HANDRAIL_ENCRYPTION_KEY
>>> decision = client.ask("stripe", "refund", {"amount": 500})  # doctest: +SKIP
>>> if decision.approved: refund(**decision.payload)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, List, Mapping, Optional, Tuple, TypeVar, Union

import httpx

from handrail import _core
from handrail._core import ConflictError, HandrailError, ProofError, Record

__all__ = ["AsyncClient", "Client", "Decision", "NetworkError", "WebhookEvent", "once"]

T = TypeVar("T")
_Answer = Tuple[int, List[Tuple[str, str]], bytes]


class NetworkError(HandrailError):
    """The server could not be reached after the retries (``code`` and ``kind`` ``"network"``)."""

    code = "network"
    kind = "network"


def _error(cls: type, code: str, message: str) -> HandrailError:
    err = cls(message)
    err.code = code
    return err


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _loads(text: Optional[str]) -> Any:
    return None if text is None else json.loads(text)


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Decision:
    """A person's decision (or the deadline's) on a request.

    ``payload`` is what to act on: the edited payload after an edit, ``None`` unless
    ``status`` allows action. Payloads are already decrypted; a payload that does not open
    raises :class:`handrail.DecryptionFailedError` instead of ever reaching you.
    """

    request_id: str
    status: str
    """``"APPROVED"``, ``"APPROVED_WITH_MODIFICATIONS"``, ``"REJECTED"`` (or ``"EXPIRED"``)."""
    payload: Any
    patched_payload: Any
    diff: Optional[Dict[str, Any]]
    """``{"ops": [RFC 6902 operations], "summary": "amount: 500 → 50"}`` after an edit."""
    actor: Optional[str]
    reason: Optional[str]
    proof: Optional[str]
    decided_at: int
    state: Any = None
    """The state parked with ``state_snapshot=``, decrypted."""
    _record: Optional[Record] = field(default=None, repr=False, compare=False)

    @property
    def approved(self) -> bool:
        """True when the agent may act (approved, with or without edits)."""
        return self.status in ("APPROVED", "APPROVED_WITH_MODIFICATIONS")


@dataclass(frozen=True)
class WebhookEvent:
    """A verified webhook delivery. ``decision`` is set once the request is decided."""

    id: str
    """``webhook-id``: deliveries may repeat; deduplicate by it."""
    type: str
    """``"request.created"``, ``"request.resolved"`` or ``"request.expired"``."""
    timestamp: int
    request_id: str
    status: str
    decision: Optional[Decision]


def _parked(store: Callable[[], None]) -> None:
    """Runs a snapshot upload's check. A request decided between its create and the upload
    (a person faster than the network) refuses the snapshot with ``already_decided``: that
    is not an error of the ask, whose caller still holds the state (``ask`` returns it as
    ``Decision.state``)."""
    try:
        store()
    except ConflictError as e:
        if getattr(e, "reason", None) != "already_decided":
            raise


def _settings(
    base_url: Optional[str],
    api_key: Optional[str],
    encryption_key: Optional[str],
    expect_project: Optional[str] = None,
    expect_issuer: Optional[str] = None,
) -> _core.Protocol:
    base_url = base_url or os.environ.get("HANDRAIL_URL")
    api_key = api_key or os.environ.get("HANDRAIL_API_KEY")
    encryption_key = encryption_key or os.environ.get("HANDRAIL_ENCRYPTION_KEY") or None
    if not base_url:
        raise _error(HandrailError, "invalid_options", "no server URL: pass base_url or set HANDRAIL_URL")
    if not api_key:
        raise _error(HandrailError, "invalid_key", "no API key: pass api_key or set HANDRAIL_API_KEY")
    return _core.Protocol(
        base_url, api_key, encryption_key, expect_project=expect_project, expect_issuer=expect_issuer
    )


def _headers(headers: Union[Mapping[str, str], httpx.Headers, List[Tuple[str, str]]]) -> List[Tuple[str, str]]:
    if isinstance(headers, httpx.Headers):
        return list(headers.multi_items())
    if isinstance(headers, list):
        return headers
    return list(headers.items())


class _Base:
    _protocol: _core.Protocol

    def _create(self, service: str, action: str, payload: Any, **options: Any) -> Tuple[str, Any, Any]:
        state = options.pop("state_snapshot", None)
        for name in ("schema", "context"):
            if options.get(name) is not None:
                options[name] = _dumps(options[name])
        id_, _key, create, snapshot = self._protocol.create(
            service,
            action,
            _dumps(payload),
            state=None if state is None else _dumps(state),
            **options,
        )
        return id_, create, snapshot

    def _decision(self, record: Record, state: Any) -> Decision:
        outcome = self._protocol.outcome(record)
        if outcome is None:
            raise _error(HandrailError, "invalid_response", "the request is still pending")
        status, payload, patched, diff, actor, reason, proof, decided_at = outcome
        return Decision(
            request_id=record.id,
            status=status,
            payload=_loads(payload),
            patched_payload=_loads(patched),
            diff=_loads(diff),
            actor=actor,
            reason=reason,
            proof=proof,
            decided_at=decided_at,
            state=state,
            _record=record,
        )

    def _claims(self, decision: Decision) -> Dict[str, Any]:
        if decision.proof is None or decision._record is None:
            raise _error(ProofError, "proof_malformed", "this decision carries no proof")
        return json.loads(self._protocol.verify_proof(decision._record, decision.proof, int(time.time())))


_OPTIONS = ("priority", "role", "schema", "expires_in", "state_snapshot", "context", "idempotency_scope", "idempotency_key")


def _options(kwargs: Dict[str, Any]) -> Dict[str, Any]:
    out = {k: v for k, v in kwargs.items() if k in _OPTIONS}
    if "expires_in" in out:
        expires = out.pop("expires_in")
        out["timeout_secs"] = None if expires is None else int(expires)
    return out


class Client(_Base):
    """A synchronous client on ``httpx.Client``.

    ``base_url``, ``api_key`` and ``encryption_key`` default to ``HANDRAIL_URL``,
    ``HANDRAIL_API_KEY`` and ``HANDRAIL_ENCRYPTION_KEY``. With an encryption key
    (``hrk1.<kid>.<base64url>``) payloads and state are sealed before they leave the process
    and opened on the way back; the server only ever stores envelopes.

    :meth:`verify_proof` accepts a proof only for the project its request belongs to and
    from the issuer the server publishes beside its keys; ``expect_project`` and
    ``expect_issuer`` pin either instead (a proof from elsewhere raises :class:`ProofError`).
    """

    def __init__(
        self,
        base_url: Optional[str] = None,
        api_key: Optional[str] = None,
        encryption_key: Optional[str] = None,
        *,
        http: Optional[httpx.Client] = None,
        expect_project: Optional[str] = None,
        expect_issuer: Optional[str] = None,
    ) -> None:
        self._protocol = _settings(base_url, api_key, encryption_key, expect_project, expect_issuer)
        self._http = http or httpx.Client()
        self._lock = threading.Lock()

    def close(self) -> None:
        """Closes the HTTP connections."""
        self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, req: Tuple[str, str, List[Tuple[str, str]], bytes, int]) -> _Answer:
        method, url, headers, body, timeout = req
        r = self._http.request(method, url, headers=headers, content=body or None, timeout=timeout)
        return r.status_code, list(r.headers.multi_items()), r.content

    def _call(self, req: Tuple[str, str, List[Tuple[str, str]], bytes, int]) -> _Answer:
        """Sends, retrying transport failures, 5xx and 429 when the core says so."""
        attempt = 0
        while True:
            try:
                answer = self._send(req)
            except httpx.TransportError as e:
                delay = _core.retry_network(attempt)
                if delay is None:
                    raise _error(NetworkError, "network", f"{req[0]} {req[1]}: {e}") from e
            else:
                delay = _core.retry_response(*answer, attempt)
                if delay is None:
                    return answer
            attempt += 1
            time.sleep(delay / 1000)

    def defer(self, service: str, action: str, payload: Any, **options: Any) -> str:
        """Opens a request without waiting; returns its id. Options as for :meth:`ask`."""
        _, create, snapshot = self._create(service, action, payload, **_options(options))
        record = self._protocol.parse_record(*self._call(create))
        if snapshot is not None:
            _parked(lambda: self._protocol.parse_snapshot_stored(*self._call(snapshot)))
        return record.id

    def ask(
        self,
        service: str,
        action: str,
        payload: Any,
        *,
        priority: Optional[str] = None,
        role: Optional[str] = None,
        schema: Optional[Dict[str, Any]] = None,
        timeout: Optional[float] = None,
        expires_in: Optional[int] = None,
        state_snapshot: Any = None,
        context: Any = None,
        idempotency_scope: Optional[str] = None,
        idempotency_key: Optional[str] = None,
    ) -> Decision:
        """Asks a person and blocks until they decide (long-poll, no sleep loop).

        Returns a :class:`Decision` for every human outcome: approved, approved with edits
        (``patched_payload``, ``diff``), rejected (``reason``). Raises
        :class:`handrail.ExpiredError` when nobody decided within ``expires_in`` seconds
        (the request's deadline, the server's default a day) and
        :class:`handrail.WaitTimeoutError` when ``timeout`` seconds (the caller's patience)
        pass first — the request then stays open; :meth:`wait` on it later.

        ``idempotency_scope`` names the step (a thread or run id): the same scope and
        payload give the same request, so a re-executed step gets the first request (and
        its decision) back instead of asking twice. Without it every call is a new request.
        """
        request_id = self.defer(
            service,
            action,
            payload,
            priority=priority,
            role=role,
            schema=schema,
            expires_in=expires_in,
            state_snapshot=state_snapshot,
            context=context,
            idempotency_scope=idempotency_scope,
            idempotency_key=idempotency_key,
        )
        decision = self.wait(request_id, timeout=timeout)
        if decision.state is None and state_snapshot is not None:
            decision = dataclasses.replace(decision, state=state_snapshot)
        return decision

    def wait(self, request_id: str, timeout: Optional[float] = None) -> Decision:
        """Blocks until request ``request_id`` is decided; see :meth:`ask` for what raises."""
        w = self._protocol.wait(request_id, _now_ms(), None if timeout is None else int(timeout * 1000))
        while True:
            req = w.request(self._protocol, _now_ms())
            try:
                answer = self._send(req)
            except httpx.TransportError:
                time.sleep(w.on_network_error(_now_ms()) / 1000)
                continue
            kind, value = w.on_response(self._protocol, *answer, _now_ms())
            if kind == "done":
                return self._decision(value, self._state(value))
            if kind == "retry":
                time.sleep(value / 1000)

    def status(self, request_id: str) -> str:
        """The request's status now: ``"PENDING"``, ``"APPROVED"``, …"""
        return self._protocol.parse_record(*self._call(self._protocol.read(request_id))).status

    def _state(self, record: Record) -> Any:
        if not record.has_snapshot:
            return None
        answer = self._call(self._protocol.snapshot_download(record.id))
        return json.loads(self._protocol.open_snapshot(record.id, *answer))

    def verify_proof(self, decision: Decision) -> Dict[str, Any]:
        """Verifies the decision's proof against the server's published keys (fetched
        once, then cached); returns its claims, raises :class:`handrail.ProofError`."""
        with self._lock:
            if not self._protocol.has_jwks:
                self._protocol.load_jwks(*self._call(self._protocol.jwks_request()))
        return self._claims(decision)

    def verify_webhook(
        self,
        body: bytes,
        headers: Union[Mapping[str, str], httpx.Headers, List[Tuple[str, str]]],
        secret: Optional[str] = None,
    ) -> WebhookEvent:
        """Verifies a Standard Webhooks delivery (``secret`` defaults to
        ``HANDRAIL_WEBHOOK_SECRET``) and returns the typed event, its decision decrypted and
        its parked state fetched and decrypted when present."""
        secret = secret or os.environ.get("HANDRAIL_WEBHOOK_SECRET") or ""
        hook_id, kind, ts, record = _core.verify_webhook(secret, _headers(headers), body, int(time.time()))
        decision = None if record.status == "PENDING" else self._decision(record, self._state(record))
        return WebhookEvent(hook_id, kind, ts, record.id, record.status, decision)

    def observe(self, agent: str, events: List[Dict[str, Any]]) -> Tuple[int, int]:
        """Posts a batch of tool-call observations; returns ``(accepted, duplicates)``."""
        req = self._protocol.observations(agent, _dumps(events))
        return self._protocol.parse_observations(*self._call(req))


class AsyncClient(_Base):
    """The same client on ``httpx.AsyncClient``: ``aask``, ``adefer``, ``await_``,
    ``astatus``, ``averify_proof``."""

    def __init__(
        self,
        base_url: Optional[str] = None,
        api_key: Optional[str] = None,
        encryption_key: Optional[str] = None,
        *,
        http: Optional[httpx.AsyncClient] = None,
        expect_project: Optional[str] = None,
        expect_issuer: Optional[str] = None,
    ) -> None:
        self._protocol = _settings(base_url, api_key, encryption_key, expect_project, expect_issuer)
        self._http = http or httpx.AsyncClient()
        self._lock = asyncio.Lock()

    async def aclose(self) -> None:
        """Closes the HTTP connections."""
        await self._http.aclose()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _send(self, req: Tuple[str, str, List[Tuple[str, str]], bytes, int]) -> _Answer:
        method, url, headers, body, timeout = req
        r = await self._http.request(method, url, headers=headers, content=body or None, timeout=timeout)
        return r.status_code, list(r.headers.multi_items()), r.content

    async def _call(self, req: Tuple[str, str, List[Tuple[str, str]], bytes, int]) -> _Answer:
        attempt = 0
        while True:
            try:
                answer = await self._send(req)
            except httpx.TransportError as e:
                delay = _core.retry_network(attempt)
                if delay is None:
                    raise _error(NetworkError, "network", f"{req[0]} {req[1]}: {e}") from e
            else:
                delay = _core.retry_response(*answer, attempt)
                if delay is None:
                    return answer
            attempt += 1
            await asyncio.sleep(delay / 1000)

    async def adefer(self, service: str, action: str, payload: Any, **options: Any) -> str:
        """Opens a request without waiting; returns its id."""
        _, create, snapshot = self._create(service, action, payload, **_options(options))
        record = self._protocol.parse_record(*(await self._call(create)))
        if snapshot is not None:
            answer = await self._call(snapshot)
            _parked(lambda: self._protocol.parse_snapshot_stored(*answer))
        return record.id

    async def aask(
        self, service: str, action: str, payload: Any, *, timeout: Optional[float] = None, **options: Any
    ) -> Decision:
        """:meth:`Client.ask`, awaited."""
        request_id = await self.adefer(service, action, payload, **options)
        decision = await self.await_(request_id, timeout=timeout)
        state = options.get("state_snapshot")
        if decision.state is None and state is not None:
            decision = dataclasses.replace(decision, state=state)
        return decision

    async def await_(self, request_id: str, timeout: Optional[float] = None) -> Decision:
        """:meth:`Client.wait`, awaited."""
        w = self._protocol.wait(request_id, _now_ms(), None if timeout is None else int(timeout * 1000))
        while True:
            req = w.request(self._protocol, _now_ms())
            try:
                answer = await self._send(req)
            except httpx.TransportError:
                await asyncio.sleep(w.on_network_error(_now_ms()) / 1000)
                continue
            kind, value = w.on_response(self._protocol, *answer, _now_ms())
            if kind == "done":
                return self._decision(value, await self._state(value))
            if kind == "retry":
                await asyncio.sleep(value / 1000)

    async def astatus(self, request_id: str) -> str:
        """The request's status now."""
        return self._protocol.parse_record(*(await self._call(self._protocol.read(request_id)))).status

    async def _state(self, record: Record) -> Any:
        if not record.has_snapshot:
            return None
        answer = await self._call(self._protocol.snapshot_download(record.id))
        return json.loads(self._protocol.open_snapshot(record.id, *answer))

    async def averify_proof(self, decision: Decision) -> Dict[str, Any]:
        """:meth:`Client.verify_proof`, awaited."""
        async with self._lock:
            if not self._protocol.has_jwks:
                self._protocol.load_jwks(*(await self._call(self._protocol.jwks_request())))
        return self._claims(decision)


# ---- once ------------------------------------------------------------------------------

_ONCE_LOCK = threading.Lock()
_ONCE: Dict[str, Tuple[threading.Lock, List[Any]]] = {}
_AONCE: Dict[str, asyncio.Lock] = {}


class once:  # noqa: N801 - used like a function
    """Runs a block at most once per ``key`` in this process; a retried call with the same
    key returns the first result instead of running again.

    As a decorator::

        @once(f"refund:{order_id}")
        def refund() -> dict: ...

    or ``once(key).call(fn, *args)``. Two threads with the same key: one runs, the other
    waits and gets its result. A call that raises records nothing, so a retry runs again.

    **Where the record lives**: in this process's memory. Across processes and restarts,
    exactly-once comes from the server: ``ask(..., idempotency_scope=...)`` returns the
    first request and its decision to a re-executed step, so scope the key by that request
    (``once(decision.request_id)``) and make the effect itself idempotent (pass the request
    id as the downstream API's idempotency key, as Stripe's ``Idempotency-Key``).
    """

    def __init__(self, key: str) -> None:
        if not isinstance(key, str) or not key:
            raise _error(HandrailError, "idempotency_key", "once() needs a non-empty string key")
        self.key = key

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Runs ``fn(*args, **kwargs)`` unless this key already ran; returns the result."""
        with _ONCE_LOCK:
            lock, slot = _ONCE.setdefault(self.key, (threading.Lock(), []))
        with lock:
            if slot:
                return slot[0]  # type: ignore[no-any-return]
            result = fn(*args, **kwargs)
            slot.append(result)
            return result

    async def acall(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Awaits ``fn(*args, **kwargs)`` unless this key already ran; returns the result.
        Two tasks with the same key: one runs, the other awaits and gets its result."""
        with _ONCE_LOCK:
            _, slot = _ONCE.setdefault(self.key, (threading.Lock(), []))
            alock = _AONCE.setdefault(self.key, asyncio.Lock())
        async with alock:
            if slot:
                return slot[0]  # type: ignore[no-any-return]
            result = await fn(*args, **kwargs)
            slot.append(result)
            return result

    def __call__(self, fn: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> T:
            return self.call(fn, *args, **kwargs)

        return wrapper

    @property
    def done(self) -> bool:
        """True once the block ran for this key."""
        entry = _ONCE.get(self.key)
        return bool(entry and entry[1])

    @staticmethod
    def forget(key: str) -> None:
        """Drops the record of ``key`` (tests, or after the effect was undone)."""
        with _ONCE_LOCK:
            _ONCE.pop(key, None)
            _AONCE.pop(key, None)

