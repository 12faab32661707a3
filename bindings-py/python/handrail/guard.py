"""Guarding tools: the firewall before every call, a person when it says review, and each
call run exactly once.

>>> fw = Firewall(mode="enforce")
>>> @guard(effect="payment", client=Client(), firewall=fw, agent="billing")  # doctest: +SKIP
... def refund(order: str, amount: int) -> dict: ...
>>> with run("thread-42", context="refund order o_1"):  # doctest: +SKIP
...     refund("o_1", 500)

What happens on a call of a guarded tool:

1. Its arguments are bound to the parameter names (defaults applied): that dict is the
   call's ``args`` for the firewall, the payload a person sees and may edit, and, in
   canonical JSON, part of its idempotency key.
2. The idempotency key is the core's (``handrail._core.guard_call_key``) over the run's
   scope (:func:`run`, else the guard's ``scope``), the service, the tool and the canonical
   arguments.
   A call whose key already ran returns the first result (:class:`handrail.once`): a retry
   or a re-executed step never runs the tool twice in this process; across processes the
   review itself is idempotent (the same key opens the same request on the server).
3. The in-process :class:`handrail.Firewall` gives a verdict; the core's guard
   (``handrail._core.guard_plan``) turns it into a plan. ``allow`` runs the tool; so does
   any verdict in shadow mode (``verdict.enforced`` false: logged, never enforced, nobody
   asked). ``block`` raises :class:`Blocked` without running it.
   ``review`` asks a person through the client: service = ``agent`` (else the tool's
   module), action = the tool's name, payload = the arguments, schema = ``schema``,
   context = ``{"firewall": {"action", "score", "reasons"}, "task"}`` (the core's
   ``guard_review_context``: what the server's ``held`` flag and the dashboard read). Approved: the tool runs with
   the approved arguments, edits included. Rejected: :class:`Rejected` is raised
   (``on_reject="raise"``, the default), or ``on_reject="return"`` returns the rejection's
   text for a model (``"REJECTED: <reason>"``), or ``on_reject=callable`` returns
   ``callable(decision)``.
4. The outcome is recorded into the firewall (``ran``, ``approved``, ``rejected``; a block
   records nothing: nothing happened — the core's ``guard_outcome``) and queued as an
   observation for the server (the core's ``guard_observation``), which
   a daemon thread posts in batches (``POST /v1/observations``, the request built by the
   core) without ever blocking or failing the tool; failed posts are logged and retried,
   and the queue is flushed at exit (:func:`flush` flushes it now).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import contextvars
import functools
import inspect
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, TypeVar, Union

import httpx

from handrail import _core
from handrail._core import HandrailError
from handrail._firewall import Firewall, FirewallSession, Verdict
from handrail.client import AsyncClient, Client, Decision, _dumps, once

__all__ = ["Blocked", "Rejected", "decision_text", "flush", "guard", "run", "tool"]

log = logging.getLogger("handrail")
F = TypeVar("F", bound=Callable[..., Any])


class Rejected(HandrailError):
    """A person rejected the call (``code`` ``"rejected"``); ``decision`` says who and why."""

    code = "rejected"

    def __init__(self, message: str, decision: Optional[Decision] = None) -> None:
        super().__init__(message)
        self.decision = decision
        self.reason = None if decision is None else decision.reason


class Blocked(HandrailError):
    """The firewall blocked the call (``code`` ``"blocked"``); ``verdict`` says why."""

    code = "blocked"

    def __init__(self, message: str, verdict: Optional[Verdict] = None) -> None:
        super().__init__(message)
        self.verdict = verdict


def decision_text(decision: Decision) -> str:
    """A short text a model can act on: ``"APPROVED"``,
    ``"APPROVED WITH EDITS: <diff summary>; use these values: <json>"`` or
    ``"REJECTED: <reason>"`` (``"EXPIRED: do not act"``). The core's
    ``handrail._core.decision_text``, the same text in every SDK."""
    summary = (decision.diff or {}).get("summary")
    return _core.decision_text(decision.status, decision.reason, summary, decision.payload)


# ---- the run: scope and task text ------------------------------------------------------


@dataclass(frozen=True)
class _Run:
    scope: str
    context: str


_RUN: contextvars.ContextVar[Optional[_Run]] = contextvars.ContextVar("handrail_run", default=None)


@contextlib.contextmanager
def run(scope: str, context: str = "") -> Iterator[None]:
    """Guarded calls inside this block belong to run ``scope`` (a thread, job or run id):
    it scopes their idempotency keys and is their firewall session; ``context`` is the
    task as the user gave it (trusted text the firewall checks values against, shown to
    the person reviewing)."""
    token = _RUN.set(_Run(scope, context))
    try:
        yield
    finally:
        _RUN.reset(token)


# ---- background observations -----------------------------------------------------------


class _Observer:
    """One daemon thread posting observation batches for one server (one API key)."""

    BATCH = 500
    MAX_QUEUED = 10_000

    def __init__(self, protocol: _core.Protocol) -> None:
        self._protocol = protocol
        self._cond = threading.Condition()
        self._queue: List[Tuple[str, Dict[str, Any]]] = []
        self._busy = False
        self._thread: Optional[threading.Thread] = None

    def put(self, agent: str, event: Dict[str, Any]) -> None:
        with self._cond:
            if len(self._queue) >= self.MAX_QUEUED:
                log.warning("handrail: observation queue full; dropping the oldest event")
                self._queue.pop(0)
            self._queue.append((agent, event))
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="handrail-observations", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Waits until every queued event was posted; False if ``timeout`` passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._busy, timeout)

    def _loop(self) -> None:
        http = httpx.Client()
        attempt = 0
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._queue))
                agent = self._queue[0][0]
                batch = [e for a, e in self._queue if a == agent][: self.BATCH]
                self._busy = True
            try:
                self._post(http, agent, batch)
                attempt = 0
                sent = {id(e) for e in batch}
                with self._cond:
                    self._queue = [(a, e) for a, e in self._queue if id(e) not in sent]
            except Exception as e:  # noqa: BLE001 - observations must never fail the agent
                delay = _core.retry_network(attempt)
                log.warning("handrail: posting %d observations failed (%s); retrying", len(batch), e)
                attempt = attempt + 1 if delay is not None else 0
                time.sleep((delay if delay is not None else 30_000) / 1000)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _post(self, http: httpx.Client, agent: str, batch: List[Dict[str, Any]]) -> None:
        method, url, headers, body, timeout = self._protocol.observations(agent, _dumps(batch))
        r = http.request(method, url, headers=headers, content=body, timeout=timeout)
        self._protocol.parse_observations(r.status_code, list(r.headers.multi_items()), r.content)


_OBSERVERS: Dict[int, _Observer] = {}
_OBSERVERS_LOCK = threading.Lock()


def _observer(client: Union[Client, AsyncClient]) -> _Observer:
    with _OBSERVERS_LOCK:
        obs = _OBSERVERS.get(id(client))
        if obs is None:
            obs = _OBSERVERS[id(client)] = _Observer(client._protocol)
        return obs


def flush(timeout: Optional[float] = None, client: Union[Client, AsyncClient, None] = None) -> bool:
    """Waits until the queued observations (of ``client``, else of every client) are
    posted; False if ``timeout`` seconds (each) passed first."""
    with _OBSERVERS_LOCK:
        if client is not None:
            observers = [o for k, o in _OBSERVERS.items() if k == id(client)]
        else:
            observers = list(_OBSERVERS.values())
    return all(o.flush(timeout) for o in observers)


atexit.register(flush, 5.0)


# ---- guard -----------------------------------------------------------------------------


def _output(result: Any) -> Optional[str]:
    if result is None:
        return None
    if isinstance(result, str):
        return result
    try:
        return _dumps(result)
    except (TypeError, ValueError):
        return repr(result)


class _Guard:
    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        effect: Optional[str],
        schema: Optional[Dict[str, Any]],
        client: Union[Client, AsyncClient, None],
        firewall: Optional[Firewall],
        agent: Optional[str],
        name: Optional[str],
        scope: str,
        on_reject: Union[str, Callable[[Decision], Any]],
        priority: Optional[str],
        timeout: Optional[float],
    ) -> None:
        if on_reject not in ("raise", "return") and not callable(on_reject):
            raise ValueError("on_reject is 'raise', 'return' or a callable")
        self.fn = fn
        self.sig = inspect.signature(fn)
        self.effect = effect
        self.schema = schema
        self.client = client
        self.firewall = firewall or Firewall()
        self.agent = agent
        self.service = agent or fn.__module__.replace("__main__", "main")
        self.tool = name or fn.__name__
        self.scope = scope
        self.on_reject = on_reject
        self.priority = priority
        self.timeout = timeout
        self._sessions: Dict[Tuple[str, str], FirewallSession] = {}
        self._lock = threading.Lock()

    # -- helpers --

    def bind(self, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Dict[str, Any]:
        bound = self.sig.bind(*args, **kwargs)
        bound.apply_defaults()
        return dict(bound.arguments)

    def invoke(self, fn: Callable[..., Any], values: Dict[str, Any]) -> Any:
        """Calls ``fn`` with named ``values`` (the approved arguments), by parameter kind."""
        pos: List[Any] = []
        kw: Dict[str, Any] = {}
        for p in self.sig.parameters.values():
            if p.name not in values:
                continue
            v = values[p.name]
            if p.kind is p.POSITIONAL_ONLY:
                pos.append(v)
            elif p.kind is p.VAR_POSITIONAL:
                pos.extend(v)
            elif p.kind is p.VAR_KEYWORD:
                kw.update(v)
            else:
                kw[p.name] = v
        return fn(*pos, **kw)

    def current(self) -> _Run:
        return _RUN.get() or _Run(self.scope, "")

    def session(self, r: _Run) -> FirewallSession:
        with self._lock:
            s = self._sessions.get((r.scope, r.context))
            if s is None:
                s = self._sessions[(r.scope, r.context)] = self.firewall.begin(r.scope, r.context)
            return s

    def key(self, scope: str, values: Dict[str, Any]) -> str:
        return _core.guard_call_key(scope, self.service, self.tool, values)

    def plan(self, verdict: Verdict) -> str:
        plan = _core.guard_plan(verdict.action, verdict.enforced)
        if plan == "shadow":
            log.info("handrail: shadow mode: the firewall would %s %s (not enforced)", verdict.action, self.tool)
        return plan

    def ask_options(self, r: _Run, verdict: Verdict, key: str) -> Dict[str, Any]:
        context = json.loads(_core.guard_review_context(verdict, r.context or None))
        return {
            "schema": self.schema,
            "context": context,
            "priority": self.priority,
            "idempotency_key": key,
        }

    def record(
        self,
        r: _Run,
        session: FirewallSession,
        key: str,
        values: Dict[str, Any],
        plan: str,
        decision: Optional[str],
        result: Any,
    ) -> None:
        """Records how the call ended (the core's ``guard_outcome``) into the firewall and,
        with a client and an agent, queues the core's observation event for the server."""
        outcome = _core.guard_outcome(plan, decision)
        if outcome is None:
            return
        now = int(time.time())
        try:
            event: Dict[str, Any] = json.loads(
                _core.guard_observation(
                    key, r.scope, self.tool, values, outcome, now, r.context or None, self.effect, _output(result)
                )
            )
        except HandrailError as e:
            log.warning("handrail: recording %s failed: %s", self.tool, e)
            return
        try:
            self.firewall.record(session, self.tool, values, outcome, now=now, output=event.get("output"), effect=self.effect)  # type: ignore[arg-type]
        except HandrailError as e:
            log.warning("handrail: firewall record of %s failed: %s", self.tool, e)
        if self.client is None or self.agent is None:
            return
        _observer(self.client).put(self.agent, event)

    def rejected(self, decision: Decision) -> Any:
        if self.on_reject == "return":
            return decision_text(decision)
        if callable(self.on_reject):
            return self.on_reject(decision)
        raise Rejected(f"{self.tool}: {decision_text(decision)}", decision)

    def approved_values(self, decision: Decision, values: Dict[str, Any]) -> Dict[str, Any]:
        payload = decision.payload
        return payload if isinstance(payload, dict) else values

    def verdict(self, session: FirewallSession, values: Dict[str, Any]) -> Verdict:
        return self.firewall.check(session, self.tool, values, now=int(time.time()), effect=self.effect)  # type: ignore[arg-type]

    def blocked(self, verdict: Verdict) -> Blocked:
        why = "; ".join(r.text for r in verdict.reasons) or "blocked by policy"
        return Blocked(f"{self.tool}: blocked by the firewall: {why}", verdict)

    def first_request(
        self, client: Union[Client, AsyncClient], error: HandrailError, values: Dict[str, Any], key: str
    ) -> str:
        """The id of the request a re-executed call opened the first time.

        The same key came with another body: the call ran before (another process, or
        this one before a restart) and the firewall's context has moved since (its score
        learned from the outcome). The first request and its decision stand; its id is
        the core's function of the key.
        """
        if getattr(error, "code", None) != "idempotency_mismatch":
            raise error
        return client._create(self.service, self.tool, values, idempotency_key=key)[0]

    def need_client(self) -> Union[Client, AsyncClient]:
        if self.client is None:
            raise HandrailError(f"{self.tool}: the firewall asks for review but the guard has no client")
        return self.client

    # -- sync --

    def call(self, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
        values = self.bind(args, kwargs)
        r = self.current()
        key = self.key(r.scope, values)
        return once(key).call(self._run, r, key, values)

    def _run(self, r: _Run, key: str, values: Dict[str, Any]) -> Any:
        session = self.session(r)
        verdict = self.verdict(session, values)
        plan = self.plan(verdict)
        if plan in ("run", "shadow"):
            result = self.invoke(self.fn, values)
            self.record(r, session, key, values, plan, None, result)
            return result
        if plan == "block":
            self.record(r, session, key, values, plan, None, None)
            raise self.blocked(verdict)
        client = self.need_client()
        options = self.ask_options(r, verdict, key)
        if isinstance(client, AsyncClient):
            raise HandrailError(f"{self.tool}: a sync tool needs a sync Client to ask for review")
        try:
            decision = client.ask(self.service, self.tool, values, timeout=self.timeout, **options)
        except HandrailError as e:
            decision = client.wait(self.first_request(client, e, values, key), timeout=self.timeout)
        if not decision.approved:
            self.record(r, session, key, values, "ask", decision.status, None)
            return self.rejected(decision)
        approved = self.approved_values(decision, values)
        result = self.invoke(self.fn, approved)
        self.record(r, session, key, approved, "ask", decision.status, result)
        return result

    # -- async --

    async def acall(self, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
        values = self.bind(args, kwargs)
        r = self.current()
        key = self.key(r.scope, values)
        return await once(key).acall(self._arun, r, key, values)

    async def _arun(self, r: _Run, key: str, values: Dict[str, Any]) -> Any:
        session = self.session(r)
        verdict = self.verdict(session, values)
        plan = self.plan(verdict)
        if plan in ("run", "shadow"):
            result = await self.invoke(self.fn, values)
            self.record(r, session, key, values, plan, None, result)
            return result
        if plan == "block":
            self.record(r, session, key, values, plan, None, None)
            raise self.blocked(verdict)
        client = self.need_client()
        options = self.ask_options(r, verdict, key)
        loop = asyncio.get_running_loop()
        try:
            if isinstance(client, AsyncClient):
                decision = await client.aask(self.service, self.tool, values, timeout=self.timeout, **options)
            else:
                ask = functools.partial(client.ask, self.service, self.tool, values, timeout=self.timeout, **options)
                decision = await loop.run_in_executor(None, ask)
        except HandrailError as e:
            first = self.first_request(client, e, values, key)
            if isinstance(client, AsyncClient):
                decision = await client.await_(first, timeout=self.timeout)
            else:
                decision = await loop.run_in_executor(None, functools.partial(client.wait, first, timeout=self.timeout))
        if not decision.approved:
            self.record(r, session, key, values, "ask", decision.status, None)
            return self.rejected(decision)
        approved = self.approved_values(decision, values)
        result = await self.invoke(self.fn, approved)
        self.record(r, session, key, approved, "ask", decision.status, result)
        return result


def guard(
    fn: Optional[F] = None,
    *,
    effect: Optional[str] = None,
    schema: Optional[Dict[str, Any]] = None,
    client: Union[Client, AsyncClient, None] = None,
    firewall: Optional[Firewall] = None,
    agent: Optional[str] = None,
    name: Optional[str] = None,
    scope: str = "default",
    on_reject: Union[str, Callable[[Decision], Any]] = "raise",
    priority: Optional[str] = None,
    timeout: Optional[float] = None,
) -> Any:
    """Guards a tool function (sync or ``async def``): see the module's docstring.

    Use as ``@guard(effect="payment", client=client, firewall=fw, agent="billing")`` or
    ``guarded = guard(tool_fn, ...)``. ``effect`` (``"read"``, ``"write"``,
    ``"destructive"``, ``"egress"``, ``"payment"``) tells the firewall what the tool does;
    ``schema`` is the JSON Schema of its arguments, which an edit must satisfy; ``agent``
    names the agent (the service of review requests, and where observations go: without
    ``agent`` and ``client`` nothing is sent); ``name`` overrides the tool name (the
    function's); ``scope`` is the run scope outside any :func:`run` block;
    ``timeout`` is how long a review may wait (:class:`handrail.WaitTimeout`).
    Without ``firewall`` a fresh one in shadow mode only records.

    The wrapper's ``.guard`` attribute is the guard (tests, integrations).
    """

    def wrap(f: F) -> F:
        g = _Guard(
            f,
            effect=effect,
            schema=schema,
            client=client,
            firewall=firewall,
            agent=agent,
            name=name,
            scope=scope,
            on_reject=on_reject,
            priority=priority,
            timeout=timeout,
        )
        if inspect.iscoroutinefunction(f):

            @functools.wraps(f)
            async def awrapper(*args: Any, **kwargs: Any) -> Any:
                return await g.acall(args, kwargs)

            awrapper.guard = g  # type: ignore[attr-defined]
            return awrapper  # type: ignore[return-value]

        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return g.call(args, kwargs)

        wrapper.guard = g  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return wrap if fn is None else wrap(fn)


# ---- a person as a tool ------------------------------------------------------------------


def tool(
    client: Client,
    *,
    service: str = "agent",
    schema: Optional[Dict[str, Any]] = None,
    priority: Optional[str] = None,
    timeout: Optional[float] = None,
    scope: Optional[str] = None,
) -> Callable[..., str]:
    """A person as a tool for LLM frameworks.

    Returns ``ask_human(action, payload=None, question=None) -> str``: it asks a person
    (service ``service``, action ``action``, the payload, ``question`` in the context) and
    returns a short text the model can act on (:func:`decision_text`): ``"APPROVED"``,
    ``"APPROVED WITH EDITS: <diff summary>; use these values: {...}"`` or
    ``"REJECTED: <reason>"``. With ``scope`` (or inside :func:`run`) the same question in
    the same run is asked once: a re-executed step gets the first answer back.
    """

    def ask_human(action: str, payload: Optional[Dict[str, Any]] = None, question: Optional[str] = None) -> str:
        """Ask a person to approve ``action`` with ``payload`` before doing it. Returns
        APPROVED, APPROVED WITH EDITS (use the values given) or REJECTED with the reason."""
        r = _RUN.get()
        context: Dict[str, Any] = {}
        if question:
            context["question"] = question
        if r is not None and r.context:
            context["task"] = r.context
        decision = client.ask(
            service,
            action,
            payload if payload is not None else {},
            schema=schema,
            priority=priority,
            timeout=timeout,
            context=context or None,
            idempotency_scope=r.scope if r is not None else scope,
        )
        return decision_text(decision)

    return ask_human
