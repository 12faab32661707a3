"""LangChain v1 agents: a human-in-the-loop middleware for ``create_agent`` whose
decisions come from Handrail.

``pip install 'handrail[langchain]'`` (``langchain>=1.5,<2``).

>>> agent = create_agent(model, tools=[refund, lookup], checkpointer=saver,  # doctest: +SKIP
...     middleware=[HandrailMiddleware(client, interrupt_on={"refund": True}, firewall=fw)])
>>> out = agent.invoke({"messages": [...]}, config)  # pauses: out["__interrupt__"]
>>> # later (a poll, a webhook), any worker with the same checkpointer:
>>> resume(agent, client, config)  # waits for the decisions and runs the thread on
>>> resume_from_webhook(agent, client, body, headers)  # or on the delivery that completes a step

:class:`HandrailMiddleware` is a subclass of LangChain's ``HumanInTheLoopMiddleware``
(batched mode) that keeps its interrupt, resume and edit shapes and changes where the
decisions come from:

1. **Which calls are held.** After each model step, a tool call is held when
   ``interrupt_on`` says so (``True``, or an ``InterruptOnConfig`` with its
   ``allowed_decisions`` and optional ``when``), never when it says ``False``, and for
   tools it does not name, when the Handrail firewall's verdict asks for review (the
   guard's machinery: :func:`handrail.guard.guard`'s verdict and plan, from the core).
   A call the firewall blocks does not run: the model gets the core's block text as an
   error tool message. On a resumed step a call that already has a Handrail request is
   held whatever today's verdict (a restarted worker's fresh firewall cannot let a
   rejected call through).
2. **Each held call is a Handrail request**: service ``service``, action = the tool's
   name, payload = its arguments, schema = the tool's argument schema (``tools=``),
   context = the firewall's review context and the task (the thread's first human
   message). Its idempotency key is the core's guard key over the scope
   ``langchain:<thread id>:<tool call id>``: the node re-runs on resume and gets the same
   request back, never a second one.
3. **The interrupt** is LangChain's standard batched ``HITLRequest``: every held call of
   one model step in one interrupt (``action_requests``, ``review_configs``), plus
   ``handrail_request_ids`` (same order) and ``handrail_tool_call_ids``.
4. **The resume** (``Command(resume={"decisions": [...]})``, or :func:`resume`, which
   builds it from the server) takes the standard decisions (``approve``, ``edit``,
   ``reject``, ``respond``), but the server's decisions are the ones applied: a resume
   value that contradicts one (another type, other edited arguments, another reply,
   another count) or names a type the call's ``allowed_decisions`` does not offer raises
   :class:`ResumeMismatch` (``code == "resume_mismatch"``), so a forged "approve"
   approves nothing. **A decision still pending raises** :class:`Pending`
   (``code == "pending"``) and nothing of the step is applied. Either way the thread
   stays paused on its interrupt and the next ``Command(resume=...)`` is judged on its
   own (LangGraph keeps the failed resume value; the middleware reads the newest);
   :func:`resume` waits until everything is decided before it resumes.
5. **What the model sees.** Approved: the tool runs. Approved with edits: the edited
   arguments are checked by the firewall again (a block is answered like a rejection;
   the server already validated them against the request's schema) and the tool runs
   with them; its tool message starts with the core's decision text (``APPROVED WITH
   EDITS: amount: 500 → 50; use these values: {...}``). Rejected: the tool does not run;
   the model gets ``REJECTED: <reason>``. Responded (LangChain's ``respond``: a person
   answers in place of the tool, e.g. an "ask the user" tool): the tool does not run and
   the model gets the reply as the tool's result (``status="success"``). Expired: fails
   closed like a rejection (``EXPIRED: do not act``).
6. **Allowed decisions.** The server knows approve, approve with edits and reject: a
   ``respond`` is decided on the server as a rejection whose reason is the reply. A
   rejection of a call that allows ``respond`` but not ``reject`` is answered as the
   reply (a rejection without a reason stays a rejection); where both are allowed, the
   resume value picks (:func:`resume` answers ``reject``). A server decision the call's
   ``allowed_decisions`` does not offer (an edit where only approve / reject are allowed,
   an approval where only edit / reject are) fails closed: the tool does not run and the
   model gets ``REJECTED: <decision> is not allowed for <tool>``. A rejection is always
   applied, whatever the list.

A paused thread is a LangGraph checkpoint: use a durable saver
(``langgraph-checkpoint-sqlite``'s ``SqliteSaver``, ``PostgresSaver``) so any worker can
resume it; Handrail holds the requests and decisions.

LangChain's ``per_call`` interrupt mode is not offered: every held call of a step is in
one batched interrupt.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union, cast

from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain.agents.middleware.human_in_the_loop import Action, DecisionType, InterruptOnConfig
from langchain_core.messages import AIMessage, HumanMessage, ToolCall, ToolMessage, add_notification_metadata
from langgraph.config import get_config
from langgraph.types import Command

from handrail import _core
from handrail._core import ExpiredError, HandrailError, NotFoundError
from handrail._firewall import Firewall
from handrail.client import Client, Decision
from handrail.guard import _Guard, _Run, decision_text
from handrail.integrations.langgraph import _latest_answer

__all__ = ["HandrailMiddleware", "Pending", "ResumeMismatch", "hitl_response", "resume", "resume_from_webhook"]

_DEFAULT_DECISIONS: List[DecisionType] = ["approve", "edit", "reject"]
_DECISION_TYPES = ("approve", "edit", "reject", "respond")
_NOTE = "handrail_note"
_PARKED = "langchain"


class Pending(HandrailError):
    """A resume arrived while a held call's request is still pending (``code``
    ``"pending"``); ``request_ids`` are the pending ones. Nothing was applied: resume again
    once they are decided."""

    code = "pending"

    def __init__(self, message: str, request_ids: Sequence[str]) -> None:
        super().__init__(message)
        self.request_ids = list(request_ids)


class ResumeMismatch(HandrailError):
    """A resume value that contradicts the server's decisions, or names a decision type
    the call's ``allowed_decisions`` does not offer (``code`` ``"resume_mismatch"``).
    Nothing of the step was applied: the thread stays paused on its interrupt."""

    code = "resume_mismatch"


def _tool_call_body(**kwargs: Any) -> None:
    """Stands in for a tool's function in the guard: the middleware never calls it."""


def _truth(decision: Optional[Decision], name: str, allowed: Sequence[str]) -> Dict[str, Any]:
    """What the middleware applies for the server's decision (``None``: expired), in the
    shape of a HITL decision: an approval or edit the call does not allow is a rejection
    (``"disallowed"`` names what was refused), a rejection of a call that allows
    ``respond`` but not ``reject`` is the person's reply."""
    if decision is None:
        return {"type": "reject"}
    if decision.status == "APPROVED":
        if "approve" not in allowed:
            return {"type": "reject", "disallowed": "approve"}
        return {"type": "approve"}
    if decision.status == "APPROVED_WITH_MODIFICATIONS":
        if "edit" not in allowed:
            return {"type": "reject", "disallowed": "edit"}
        return {"type": "edit", "edited_action": {"name": name, "args": decision.payload}}
    if decision.reason and "respond" in allowed and "reject" not in allowed:
        return {"type": "respond", "message": decision.reason}
    return {"type": "reject"}


def _text(decision: Optional[Decision], truth: Optional[Mapping[str, Any]] = None, name: str = "") -> str:
    """The core's text for the model (``EXPIRED: do not act`` for an expired request;
    ``REJECTED: edit is not allowed for refund`` for a refused decision type)."""
    if decision is None:
        return _core.decision_text("EXPIRED", None, None, None)
    if truth is not None and truth.get("disallowed"):
        return _core.decision_text("REJECTED", f"{truth['disallowed']} is not allowed for {name}", None, None)
    return decision_text(decision)


def _error_message(tool_call: ToolCall, content: str, kind: str) -> ToolMessage:
    """A tool message in place of the tool's result, marked as LangChain's HITL marks its
    own: an error, except for a ``respond`` (the person's reply is the tool's result)."""
    status = "success" if kind == "respond" else "error"
    message = ToolMessage(content=content, name=tool_call["name"], tool_call_id=tool_call["id"], status=status)
    return cast(ToolMessage, add_notification_metadata(message, source="hitl_interrupt_decision", data={"decision": kind}))  # type: ignore[arg-type]


def _task(state: Mapping[str, Any]) -> str:
    """The task as the user gave it: the thread's first human message."""
    for m in state.get("messages") or []:
        if isinstance(m, HumanMessage):
            return m.content if isinstance(m.content, str) else json.dumps(m.content, default=str)
    return ""


class HandrailMiddleware(HumanInTheLoopMiddleware):  # type: ignore[misc]
    """LangChain's ``HumanInTheLoopMiddleware`` (batched) decided through Handrail.

    ``client`` opens and reads the requests. ``interrupt_on`` is LangChain's
    (``{"refund": True, "lookup": False, "email": {"allowed_decisions": [...]}}``;
    ``True`` here means approve / edit / reject). ``firewall`` gives the verdict for tools
    ``interrupt_on`` does not name (without one, a fresh firewall in shadow mode holds
    nothing); ``effects`` tells it what each tool does (``{"refund": "payment"}``).
    ``allowed_decisions`` may name ``approve``, ``edit``, ``reject`` and ``respond``
    (LangChain's four; see the module's docstring for how the server's decisions map).
    ``tools`` (the agent's tools) give each request the tool's argument schema, which an
    edit must satisfy on the server; ``schemas`` overrides it per tool. ``expires_in``
    is each request's deadline in seconds (the server's default otherwise). ``service`` is the
    requests' service and the firewall's agent name (observations are posted under it
    when ``observe`` is true). See the module's docstring for the protocol.
    """

    def __init__(
        self,
        client: Client,
        *,
        interrupt_on: Optional[Mapping[str, Union[bool, InterruptOnConfig]]] = None,
        firewall: Optional[Firewall] = None,
        effects: Optional[Mapping[str, str]] = None,
        tools: Sequence[Any] = (),
        schemas: Optional[Mapping[str, Dict[str, Any]]] = None,
        service: str = "langchain",
        priority: Optional[str] = None,
        expires_in: Optional[int] = None,
        observe: bool = False,
        description_prefix: str = "Tool execution requires approval",
    ) -> None:
        interrupt_on = dict(interrupt_on or {})
        configs: Dict[str, Union[bool, InterruptOnConfig]] = {
            name: (InterruptOnConfig(allowed_decisions=list(_DEFAULT_DECISIONS)) if c is True else c)
            for name, c in interrupt_on.items()
        }
        for name, c in configs.items():
            if isinstance(c, Mapping):
                unknown = [d for d in c.get("allowed_decisions") or [] if d not in _DECISION_TYPES]
                if unknown:
                    raise ValueError(f"{name}: unknown decision type(s) {unknown}; expected some of {list(_DECISION_TYPES)}")
        super().__init__(configs, description_prefix=description_prefix, interrupt_mode="batched")
        self.client = client
        self.never = {name for name, c in interrupt_on.items() if c is False}
        self.firewall = firewall or Firewall()
        self.effects = dict(effects or {})
        self.schemas: Dict[str, Dict[str, Any]] = {}
        for t in tools:
            schema = getattr(t, "tool_call_schema", None)
            if schema is not None and hasattr(schema, "model_json_schema"):
                self.schemas[t.name] = schema.model_json_schema()
            elif isinstance(schema, dict):
                self.schemas[t.name] = schema
        self.schemas.update(schemas or {})
        self.service = service
        self.priority = priority
        self.expires_in = expires_in
        self.observe = observe
        self._guards: Dict[str, _Guard] = {}

    # ---- the guard's machinery, one guard per tool ---------------------------------------

    def guard_for(self, name: str) -> _Guard:
        g = self._guards.get(name)
        if g is None:
            g = self._guards[name] = _Guard(
                _tool_call_body,
                effect=self.effects.get(name),
                schema=self.schemas.get(name),
                client=self.client,
                firewall=self.firewall,
                agent=self.service if self.observe else None,
                name=name,
                scope="default",
                on_reject="return",
                priority=self.priority,
                timeout=None,
            )
            g.service = self.service
        return g

    # ---- after the model: hold, ask, apply -----------------------------------------------

    def after_model(self, state: Any, runtime: Any) -> Optional[Dict[str, Any]]:
        messages = state["messages"]
        last = next((m for m in reversed(messages) if isinstance(m, AIMessage)), None)
        if last is None or not last.tool_calls:
            return None
        thread = (get_config().get("configurable") or {}).get("thread_id")
        if not thread:
            raise HandrailError("HandrailMiddleware needs a checkpointer and a thread_id in the config")
        task = _task(state)

        held: List[Tuple[int, ToolCall, InterruptOnConfig, str]] = []  # (index, call, config, request id)
        blocked: Dict[str, ToolMessage] = {}
        for idx, call in enumerate(last.tool_calls):
            name, values = call["name"], call["args"]
            g = self.guard_for(name)
            run = _Run(str(thread), task)
            key = g.key(f"langchain:{thread}:{call['id']}", values)
            config = self.interrupt_on.get(name)
            verdict = None
            if name in self.never:
                hold = False
            elif config is not None:
                hold = self._should_interrupt(call, config, state, runtime)
            else:
                verdict = g.verdict(g.session(run), values)
                plan = g.plan(verdict)
                if plan == "block":
                    blocked[str(call["id"])] = _error_message(call, str(g.blocked(verdict)), "reject")
                    continue
                hold = plan == "ask"
            config = config or InterruptOnConfig(allowed_decisions=list(_DEFAULT_DECISIONS))
            if not hold:
                # A call held before (this step ran before a restart, or another worker's
                # firewall held it) stays held: its request and decision stand. Whether
                # this run is a resume is not public in LangGraph, so every call the
                # configuration may hold is looked up (one status request).
                if name in self.never:
                    continue
                existing = self._existing(key, name, values)
                if existing is None:
                    continue
                held.append((idx, call, config, existing))
                continue
            if verdict is None:
                verdict = g.verdict(g.session(run), values)
            held.append((idx, call, config, self._open(g, run, verdict, key, values, str(thread))))

        if not held:
            out: Dict[str, Any] = {}
            if blocked:
                out["messages"] = [last, *blocked.values()]
            if state.get("hitl_edited_tool_calls"):
                out["hitl_edited_tool_calls"] = {}
            return out or None

        requests, configs = [], []
        for _, call, config, _ in held:
            a, c = self._create_action_and_config(call, config, state, runtime)
            requests.append(a)
            configs.append(c)
        answer = _latest_answer(
            {
                "action_requests": requests,
                "review_configs": configs,
                "handrail_request_ids": [rid for *_, rid in held],
                "handrail_tool_call_ids": [call["id"] for _, call, _, _ in held],
            }
        )
        decisions = self._decisions([rid for *_, rid in held])

        artificial: List[ToolMessage] = list(blocked.values())
        edited: Dict[str, Action] = {}
        claimed = self._check_claims(answer, held, decisions)
        for (_, call, config, rid), decision, claim in zip(held, decisions, claimed):
            truth = _truth(decision, call["name"], config["allowed_decisions"])
            self._record(str(thread), task, call, decision)
            # A reply where the truth is one and the resume value does not say "reject", or
            # where the resume value picks "respond" for a rejection (checked above).
            said = claim.get("type")
            if (truth["type"] == "respond" and said != "reject") or said == "respond":
                assert decision is not None and decision.reason  # a reply is a rejection's reason
                artificial.append(_error_message(call, decision.reason, "respond"))
                continue
            if truth["type"] in ("reject", "respond"):
                artificial.append(_error_message(call, _text(decision, truth, call["name"]), "reject"))
                continue
            assert decision is not None  # an approval is a decision
            if truth["type"] == "edit":
                args = decision.payload
                g = self.guard_for(call["name"])
                recheck = g.verdict(g.session(_Run(str(thread), task)), args)
                if g.plan(recheck) == "block":
                    artificial.append(_error_message(call, str(g.blocked(recheck)), "reject"))
                    continue
                # The core's text rides along for _notice (a key LangChain's Action does not name).
                edited[str(call["id"])] = cast(Action, {"name": call["name"], "args": args, _NOTE: _text(decision)})
        return {"messages": [last, *artificial], "hitl_edited_tool_calls": edited}

    async def aafter_model(self, state: Any, runtime: Any) -> Optional[Dict[str, Any]]:
        return self.after_model(state, runtime)

    def _notice(self, executed: Action, *, has_content: bool) -> str:
        """The text an edited call's tool message starts with: the core's decision text."""
        note = executed.get(_NOTE) or f"APPROVED WITH EDITS; use these values: {json.dumps(executed['args'])}"  # type: ignore[misc]
        return f"{note}\n\nTool response:" if has_content else str(note)

    def _record(self, thread: str, task: str, call: ToolCall, decision: Optional[Decision]) -> None:
        """Teaches the firewall what a person decided (the guard's record: the core's
        outcome and observation); an expired request teaches nothing."""
        if decision is None:
            return
        g = self.guard_for(call["name"])
        run = _Run(thread, task)
        key = g.key(f"langchain:{thread}:{call['id']}", call["args"])
        args = decision.payload if decision.approved and isinstance(decision.payload, dict) else call["args"]
        g.record(run, g.session(run), key, args, "ask", decision.status, None)

    # ---- requests ----------------------------------------------------------------------

    def _open(self, g: _Guard, run: _Run, verdict: Any, key: str, values: Dict[str, Any], thread: str) -> str:
        options = g.ask_options(run, verdict, key)
        # The thread names the run, so an operator may grant a tool "in this thread".
        options["context"] = {**options["context"], "thread": thread}
        options["expires_in"] = self.expires_in
        # Sealed on the client, so only with an encryption key: which thread to resume.
        options["state_snapshot"] = {_PARKED: {"thread_id": thread}} if self.client._protocol.encrypts else None
        try:
            return self.client.defer(self.service, g.tool, values, **options)
        except HandrailError as e:
            # Re-executed with another firewall context: the first request stands.
            return g.first_request(self.client, e, values, key)

    def _existing(self, key: str, name: str, values: Dict[str, Any]) -> Optional[str]:
        """The request a held call of this key opened before, if any."""
        request_id = self.client._create(self.service, name, values, idempotency_key=key)[0]
        try:
            self.client.status(request_id)
        except NotFoundError:
            return None
        return request_id

    def _decisions(self, request_ids: Sequence[str]) -> List[Optional[Decision]]:
        """The server's decisions (``None``: expired); :class:`Pending` if one is open."""
        statuses = {rid: self.client.status(rid) for rid in request_ids}
        pending = [rid for rid, s in statuses.items() if s == "PENDING"]
        if pending:
            raise Pending(f"requests still pending: {', '.join(pending)}", pending)
        out: List[Optional[Decision]] = []
        for rid in request_ids:
            try:
                out.append(self.client.wait(rid))
            except ExpiredError:
                out.append(None)
        return out

    @staticmethod
    def _check_claims(
        answer: Any, held: Sequence[Tuple[int, ToolCall, Any, str]], decisions: Sequence[Optional[Decision]]
    ) -> List[Mapping[str, Any]]:
        """A resume value may repeat the server's decisions, never contradict them nor name a
        type the call does not allow (a ``reject`` is always allowed: it runs nothing).
        Returns each call's claim (``{}`` where the resume value claims nothing)."""
        claimed = answer.get("decisions") if isinstance(answer, Mapping) else None
        if claimed is None:
            return [{} for _ in held]
        if not isinstance(claimed, list) or len(claimed) != len(held):
            raise ResumeMismatch(f"the resume value has {len(claimed) if isinstance(claimed, list) else 'no'} decisions for {len(held)} held calls")
        for (_, call, config, rid), claim, decision in zip(held, claimed, decisions):
            allowed = config["allowed_decisions"]
            truth = _truth(decision, call["name"], allowed)
            kind = claim.get("type") if isinstance(claim, Mapping) else None
            status = "EXPIRED" if decision is None else decision.status
            if kind not in _DECISION_TYPES or (kind != "reject" and kind not in allowed):
                raise ResumeMismatch(f"decision type {kind!r} is not allowed for {call['name']}; expected one of {list(allowed)}")
            assert isinstance(claim, Mapping)
            if kind == "respond":
                # A reply is a rejection whose reason is the reply, word for word.
                reason = decision.reason if decision is not None and decision.status == "REJECTED" else None
                if truth["type"] not in ("reject", "respond") or not reason or claim.get("message") != reason:
                    raise ResumeMismatch(f"resume value responds {call['name']} otherwise than request {rid} was decided ({status})")
                continue
            if kind != truth["type"] and not (kind == "reject" and truth["type"] == "respond"):
                raise ResumeMismatch(f"resume value says {kind!r} but request {rid} was decided {status}")
            if kind == "edit":
                args = (claim.get("edited_action") or {}).get("args")
                if args is not None and args != truth["edited_action"]["args"]:
                    raise ResumeMismatch(f"resume value edits {call['name']} otherwise than request {rid} was decided")
        return [cast(Mapping[str, Any], c) for c in claimed]


def hitl_response(client: Client, value: Mapping[str, Any], timeout: Optional[float] = None) -> Dict[str, Any]:
    """The ``HITLResponse`` for an interrupt of :class:`HandrailMiddleware`, from the
    server's decisions; waits (long-poll) until each of its requests is decided
    (:class:`handrail.WaitTimeoutError` after ``timeout`` seconds each)."""
    out: List[Dict[str, Any]] = []
    configs = value.get("review_configs") or [{} for _ in value["action_requests"]]
    for rid, action, config in zip(value["handrail_request_ids"], value["action_requests"], configs):
        try:
            decision: Optional[Decision] = client.wait(rid, timeout=timeout)
        except ExpiredError:
            decision = None
        allowed = config.get("allowed_decisions") or _DEFAULT_DECISIONS
        truth = _truth(decision, action["name"], allowed)
        if truth["type"] == "reject":
            truth = {"type": "reject", "message": _text(decision, truth, action["name"])}
        out.append(truth)
    return {"decisions": out}


def resume(
    agent: Any,
    client: Client,
    config: Mapping[str, Any],
    *,
    wait: bool = True,
    timeout: Optional[float] = None,
    **invoke_options: Any,
) -> Any:
    """Resumes a thread paused by :class:`HandrailMiddleware` once its requests are
    decided (``wait=False``: returns ``None`` at once while one is pending); returns what
    ``agent.invoke`` returns, or ``None`` when the thread waits on no Handrail interrupt
    (already resumed: nothing runs twice)."""
    snapshot = agent.get_state(config)
    values = [i.value for i in snapshot.interrupts if isinstance(i.value, Mapping) and "handrail_request_ids" in i.value]
    if not values:
        return None
    if not wait and any(client.status(rid) == "PENDING" for rid in values[0]["handrail_request_ids"]):
        return None
    return agent.invoke(Command(resume=hitl_response(client, values[0], timeout)), config, **invoke_options)


def resume_from_webhook(
    agent: Any,
    client: Client,
    body: bytes,
    headers: Any,
    secret: Optional[str] = None,
    *,
    thread_of: Optional[Callable[[str], Optional[str]]] = None,
    **invoke_options: Any,
) -> Any:
    """Verifies a Handrail webhook and resumes the thread its request was held in, once
    every held call of that model step is decided (:func:`resume` with ``wait=False``).

    The thread is the one parked with the request (clients with an encryption key), else
    ``thread_of(request_id)`` (your map, e.g. from the interrupt's ``handrail_request_ids``).
    Returns ``None`` for an event that resumes nothing (``request.created``, a step with a
    call still pending, a thread already resumed: deliveries may repeat)."""
    event = client.verify_webhook(body, headers, secret)
    if event.decision is None:
        return None
    thread: Optional[str] = None
    state = event.decision.state
    if isinstance(state, dict) and _PARKED in state:
        thread = state[_PARKED]["thread_id"]
    elif thread_of is not None:
        thread = thread_of(event.request_id)
    if thread is None:
        return None
    return resume(agent, client, {"configurable": {"thread_id": thread}}, wait=False, **invoke_options)
