"""OpenAI Agents SDK (``openai-agents``): tools' approvals decided through Handrail, the
paused run parked with the request.

``pip install 'handrail[openai-agents]'`` (``openai-agents>=0.24,<0.25``; it needs
``openai>=3``, which ``crewai`` 1.x refuses, so the two extras do not install together).

>>> refund = guard_tool(refund_tool, firewall=fw, effect="payment", client=client, agent="billing")  # doctest: +SKIP
>>> result = await Runner.run(agent, "refund order o_1")
>>> if result.interruptions:
...     park(client, result, run_id="job-42")  # one request per held call, RunState sealed
>>> # later, any worker, from a webhook or a poll:
>>> result = await resume(client, agent, request_id)  # None while a call is still pending

1. :func:`guard_tool` sets a ``FunctionTool``'s ``needs_approval`` from the Handrail
   firewall's verdict (the guard's machinery: the core's verdict and plan), or to
   ``always``. A call the firewall blocks does not run: the model gets the guard's block
   text as the tool's output. An approved call runs at most once: with ``client`` and
   ``agent`` it is claimed first by recording its observation on the server (the
   observation id is the call's guard key; the server applies one id once), so a second
   worker resuming the same parked state, or a repeated webhook, does not run it again:
   the tool raises :class:`AlreadyRan`, which the SDK turns into a ``UserError`` (its
   ``__cause__``) that stops that duplicate run. It is at most once: a worker that dies
   between the claim and the tool's end leaves the call unrun.
2. :func:`park` turns each of ``result.interruptions`` into a Handrail request (service
   ``service``, action = the tool, payload = its arguments, schema = the tool's
   ``params_json_schema``), idempotency key = the core's guard key over
   ``openai-agents:<run_id>:<call id>``: parking again creates nothing new; a tool made
   by :func:`guard_tool` adds the firewall's review context. The serialized
   ``RunState`` (``result.to_state().to_string()``) is parked with every request as its
   state snapshot, sealed on the client (the client needs an encryption key: the state
   holds the conversation).
3. :func:`resume` (or :func:`resume_from_webhook`) loads that snapshot
   (``RunState.from_string``), and once every held call of the run is decided, answers
   each from the server: approved → ``state.approve(item)``; rejected →
   ``state.reject(item, rejection_message=...)`` with the core's text (``REJECTED:
   <reason>``); expired → rejected (``EXPIRED: do not act``). **An edit is answered as a
   rejection** whose message is the core's ``APPROVED WITH EDITS: <diff>; use these
   values: {...}``: the SDK can only approve a call as the model made it, so the model
   calls the tool again with the approved values, and that call goes through
   ``needs_approval`` (the firewall, a new request) like any other. Then it runs on
   (``Runner.run(agent, state)``) and parks any new interruptions under the same run id.
   While a call is still pending, :func:`resume` returns ``None`` and changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from agents import Agent, FunctionTool, RunState, Runner
from agents.tracing import get_current_trace

from handrail import _core
from handrail._core import ExpiredError, HandrailError
from handrail._firewall import Firewall
from handrail.client import Client, Decision
from handrail.guard import _Guard, _Run, decision_text

__all__ = ["AlreadyRan", "guard_tool", "park", "resume", "resume_from_webhook"]

_KEY = "openai_agents"
_GUARD = "_handrail_guard"


class AlreadyRan(HandrailError):
    """An approved call was claimed before (another worker, a repeated resume of the same
    parked state): it does not run again (``code`` ``"already_ran"``)."""

    code = "already_ran"


def _tool_call_body(**kwargs: Any) -> None:
    """Stands in for the tool's function in the guard: the adapter calls the SDK's."""


def _args(text: Optional[str]) -> Dict[str, Any]:
    value = json.loads(text) if text else {}
    if not isinstance(value, dict):
        raise HandrailError("tool arguments must be a JSON object")
    return value


def _session_scope() -> str:
    trace = get_current_trace()
    return f"openai-agents:{trace.trace_id}" if trace is not None and trace.trace_id else "openai-agents"


def guard_tool(
    tool: FunctionTool,
    *,
    firewall: Optional[Firewall] = None,
    always: bool = False,
    effect: Optional[str] = None,
    client: Optional[Client] = None,
    agent: Optional[str] = None,
) -> FunctionTool:
    """Backs ``tool.needs_approval`` by the firewall (``always=True``: every call is held)
    and guards its invocation (block, claim, record); changes ``tool`` and returns it.

    ``effect`` tells the firewall what the tool does. With ``client`` and ``agent`` an
    approved call is claimed on the server before it runs (at most once across workers)
    and outcomes are posted as the agent's observations.
    """
    g = _Guard(
        _tool_call_body,
        effect=effect,
        schema=tool.params_json_schema,
        client=client,
        firewall=firewall,
        agent=agent,
        name=tool.name,
        scope="default",
        on_reject="return",
        priority=None,
        timeout=None,
    )
    inner = tool.on_invoke_tool

    async def needs_approval(ctx: Any, params: Dict[str, Any], call_id: str) -> bool:
        if always:
            return True
        run = _Run(_session_scope(), "")
        return g.plan(g.verdict(g.session(run), params)) == "ask"

    async def invoke(ctx: Any, input_json: str) -> Any:
        values = _args(input_json)
        run = _Run(_session_scope(), "")
        session = g.session(run)
        key = g.key(f"openai-agents:{ctx.tool_call_id}", values)
        verdict = g.verdict(session, values)
        plan = g.plan(verdict)
        if plan == "block":
            g.record(run, session, key, values, plan, None, None)
            return str(g.blocked(verdict))
        approved = ctx.is_tool_approved(tool.name, ctx.tool_call_id) is True
        if approved and client is not None and agent is not None:
            await asyncio.get_running_loop().run_in_executor(None, _claim, client, agent, run, g, key, values)
        result = await inner(ctx, input_json)
        g.record(run, session, key, values, "ask" if approved else plan, "APPROVED" if approved else None, result)
        return result

    tool.needs_approval = needs_approval
    tool.on_invoke_tool = invoke
    setattr(tool, _GUARD, g)  # park() gives each request the firewall's review context
    return tool


def _claim(client: Client, agent: str, run: _Run, g: _Guard, key: str, values: Dict[str, Any]) -> None:
    """Records the approved call's observation before it runs: the server applies an id
    once, so the first worker to record it runs it and any other gets :class:`AlreadyRan`."""
    event = json.loads(
        _core.guard_observation(key, run.scope, g.tool, values, "approved", int(time.time()), None, g.effect, None)
    )
    _, duplicates = client.observe(agent, [event])
    if duplicates:
        raise AlreadyRan(f"{g.tool}: call {key} was approved and claimed before; it does not run twice")


# ---- parking and resuming ---------------------------------------------------------------


def _call(item: Any) -> Tuple[str, str, Dict[str, Any]]:
    call_id = item.call_id if hasattr(item, "call_id") else None
    raw = item.raw_item
    if call_id is None:
        call_id = raw.get("call_id") if isinstance(raw, dict) else getattr(raw, "call_id", None)
    arguments = item.arguments if hasattr(item, "arguments") else getattr(raw, "arguments", None)
    if not call_id or not item.tool_name:
        raise HandrailError("an interruption without a tool name or call id cannot be parked")
    return str(call_id), str(item.tool_name), _args(arguments)


def _tool(item: Any, name: str) -> Optional[FunctionTool]:
    for t in getattr(item.agent, "tools", None) or []:
        if isinstance(t, FunctionTool) and t.name == name:
            return t
    return None


def _context(tool: Optional[FunctionTool], run_id: str, call_id: str, args: Dict[str, Any]) -> Dict[str, Any]:
    """The request's context: the run and call, and for a guarded tool the firewall's
    review context (the core's ``guard_review_context``, what the dashboard shows)."""
    context: Dict[str, Any] = {}
    g = getattr(tool, _GUARD, None)
    if isinstance(g, _Guard):
        run = _Run(f"openai-agents:{run_id}", "")
        context = json.loads(_core.guard_review_context(g.verdict(g.session(run), args), None))
    context[_KEY] = {"run_id": run_id, "call_id": call_id}
    # The run names the thread, so an operator may grant a tool "in this thread".
    context["thread"] = run_id
    return context


def park(
    client: Client,
    result: Any,
    *,
    run_id: str,
    service: str = "openai-agents",
    expires_in: Optional[int] = None,
    priority: Optional[str] = None,
) -> List[str]:
    """Opens one Handrail request per interruption of ``result`` (a ``RunResult``) and
    parks the serialized ``RunState`` with each; returns the request ids (in the order of
    ``result.interruptions``). Idempotent per ``run_id`` and call id."""
    if not client._protocol.encrypts:
        raise HandrailError("parking a RunState needs a client with an encryption key (it holds the conversation)")
    calls = [(_call(item), item) for item in result.interruptions]
    keys = [
        _core.guard_call_key(f"openai-agents:{run_id}:{call_id}", service, name, args) for (call_id, name, args), _ in calls
    ]
    ids = [client._create(service, name, args, idempotency_key=k)[0] for ((_, name, args), _), k in zip(calls, keys)]
    parked = {
        _KEY: {
            "run_id": run_id,
            "service": service,
            "state": result.to_state().to_string(),
            "calls": [{"call_id": c[0], "tool": c[1], "request_id": rid} for (c, _), rid in zip(calls, ids)],
        }
    }
    out = []
    for ((call_id, name, args), item), key in zip(calls, keys):
        tool = _tool(item, name)
        out.append(
            client.defer(
                service,
                name,
                args,
                schema=None if tool is None else tool.params_json_schema,
                priority=priority,
                expires_in=expires_in,
                idempotency_key=key,
                state_snapshot=parked,
                context=_context(tool, run_id, call_id, args),
            )
        )
    return out


def _parked(client: Client, request_id: str) -> Optional[Dict[str, Any]]:
    record = client._protocol.parse_record(*client._call(client._protocol.read(request_id)))
    state = client._state(record)
    if not isinstance(state, dict) or _KEY not in state:
        return None
    return state[_KEY]  # type: ignore[no-any-return]


def _outcome(client: Client, request_id: str, wait: bool) -> Union[Decision, str]:
    """The decision, ``"PENDING"`` (only without ``wait``) or ``"EXPIRED"``."""
    if not wait and client.status(request_id) == "PENDING":
        return "PENDING"
    try:
        return client.wait(request_id)
    except ExpiredError:
        return "EXPIRED"


async def resume(
    client: Client, agent: Agent[Any], request_id: str, *, wait: bool = False, **run_options: Any
) -> Any:
    """Resumes the run parked with ``request_id`` once every held call of it is decided;
    returns ``Runner.run``'s result (its new interruptions already parked), or ``None``
    while a call is pending (``wait=True`` long-polls until each is decided instead) or
    when the request parked no run. ``agent`` is the run's starting agent (the same name
    and tools). See the module's docstring."""
    parked = _parked(client, request_id)
    if parked is None:
        return None
    outcomes: Dict[str, Union[Decision, str]] = {}
    for c in parked["calls"]:
        outcomes[c["call_id"]] = _outcome(client, c["request_id"], wait)
        if outcomes[c["call_id"]] == "PENDING":
            return None
    state = await RunState.from_string(agent, parked["state"])
    for item in state.get_interruptions():
        call_id, _, _ = _call(item)
        outcome = outcomes.get(call_id)
        if outcome is None:
            raise HandrailError(f"the parked run holds call {call_id}, which no request of it decides")
        if isinstance(outcome, Decision) and outcome.status == "APPROVED":
            state.approve(item)
        elif isinstance(outcome, Decision):
            state.reject(item, rejection_message=decision_text(outcome))
        else:
            state.reject(item, rejection_message=_core.decision_text("EXPIRED", None, None, None))
    result = await Runner.run(agent, state, **run_options)
    if result.interruptions:
        park(client, result, run_id=parked["run_id"], service=parked["service"])
    return result


async def resume_from_webhook(
    client: Client, agent: Agent[Any], body: bytes, headers: Any, secret: Optional[str] = None, **run_options: Any
) -> Any:
    """Verifies a Handrail webhook and resumes the run parked with its request (see
    :func:`resume`); ``None`` for an event that decides nothing yet."""
    event = client.verify_webhook(body, headers, secret)
    if event.status == "PENDING":
        return None
    return await resume(client, agent, event.request_id, **run_options)
