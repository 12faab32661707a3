"""LangGraph: a human gate node on ``interrupt()``, resumed from a Handrail decision.

``pip install 'handrail[langgraph]'``.

>>> graph = StateGraph(State)  # doctest: +SKIP
>>> graph.add_node("approve", gate(client, action="refund", args=lambda s: s["refund"]))
>>> ...
>>> app = graph.compile(checkpointer=SqliteSaver(sqlite3.connect("graph.db")))
>>> app.invoke({...}, {"configurable": {"thread_id": "t1"}})  # pauses at the gate
>>> # later, in the webhook handler:
>>> resume_from_webhook(app, client, body, headers)  # runs the thread on

The gate node:

1. opens a Handrail request (service ``service``, action ``action``, payload
   ``args(state)``) with idempotency scope ``langgraph:<thread id>:<node>``; when the
   client has an encryption key it also parks the thread id with it (``state_snapshot``,
   sealed on the client) so a webhook knows which thread to resume (without one, pass
   ``thread_of`` to :func:`resume_from_webhook`);
2. calls ``interrupt()`` with a value in the shape of LangChain v1's human-in-the-loop
   middleware (``HITLRequest``: ``action_requests`` and ``review_configs``, plus
   ``handrail_request_id``), so tools that read those interrupts (Agent Inbox, a custom UI)
   see a familiar request;
3. on resume (``Command(resume=...)``, with a ``HITLResponse``
   ``{"decisions": [{"type": "approve"} | {"type": "edit", "edited_action": {"name", "args"}}
   | {"type": "reject", "message": ...}]}`` or one such decision alone), LangGraph
   re-executes the node from its start: step 1 then gives back the *same* request (same
   scope, same payload: no second request), and the gate reads the decision from the
   server, which wins: a resume value that contradicts it raises, so nobody approves by
   forging a resume (and the thread is not stuck on it: LangGraph keeps a refused resume
   value, and the gate reads the newest one);
4. returns ``{result_key: {"type": "approve" | "edit" | "reject", "args": ..., "message":
   ..., "request_id": ...}}``: route on ``state[result_key]["type"]``; ``args`` are the
   approved arguments (edited ones after an edit).

**Durable checkpoints: use LangGraph's own savers.** ``langgraph-checkpoint-sqlite``
(``SqliteSaver``) for one machine, ``langgraph-checkpoint-postgres`` (``PostgresSaver``)
for several workers. A paused thread is a checkpoint; Handrail holds only the request, the
decision and the thread id. We do not ship a saver storing checkpoints on the Handrail
server because the official savers already are durable, transactional and maintained in
step with LangGraph's checkpoint format (pending writes, versions, time travel), which a
second implementation would chase release by release; and because a checkpoint holds the
whole agent state, which belongs in the user's database next to the agent, not in the
approval service. ``MemorySaver`` loses paused threads on restart: tests only.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Optional, Union

from langgraph.config import get_config
from langgraph.errors import GraphInterrupt
from langgraph.types import Command, interrupt

from handrail._core import HandrailError
from handrail.client import Client, Decision

__all__ = ["gate", "hitl_decision", "resume", "resume_command", "resume_from_webhook", "scope_of"]


def hitl_decision(decision: Decision, action: Optional[str] = None) -> Dict[str, Any]:
    """A Handrail decision in the shape of LangChain's HITL middleware decisions."""
    if decision.status == "APPROVED":
        return {"type": "approve"}
    if decision.status == "APPROVED_WITH_MODIFICATIONS":
        return {"type": "edit", "edited_action": {"name": action or "", "args": decision.payload}}
    out: Dict[str, Any] = {"type": "reject"}
    if decision.reason:
        out["message"] = decision.reason
    return out


def resume_command(decision: Decision, action: Optional[str] = None) -> Command:
    """``Command(resume={"decisions": [...]})`` for a decision."""
    return Command(resume={"decisions": [hitl_decision(decision, action)]})


def scope_of(config: Mapping[str, Any]) -> str:
    """The idempotency scope of the running node: ``langgraph:<thread id>:<node>``."""
    thread = (config.get("configurable") or {}).get("thread_id")
    node = (config.get("metadata") or {}).get("langgraph_node", "")
    if not thread:
        raise HandrailError("the gate needs a checkpointer and a thread_id in the config")
    return f"langgraph:{thread}:{node}"


def _latest_answer(value: Any) -> Any:
    """The newest resume value of this interrupt (LangGraph's public ``interrupt()`` only).

    LangGraph keeps a task's resume values even when the node then raises (a pending
    request, a contradicting claim): a later ``Command(resume=...)`` is the *next* answer,
    while the first ``interrupt()`` keeps returning the old one. Each earlier answer was
    judged when it came (and raised), so only the newest is read: ``interrupt()`` is asked
    again until it has no stored answer left, which it says by raising ``GraphInterrupt``
    (caught here: it has written nothing by then). Without any answer, the first call's
    ``GraphInterrupt`` pauses the graph as usual. Each call consumes one stored answer, so
    the loop ends."""
    answer = interrupt(value)
    while True:
        try:
            answer = interrupt(value)
        except GraphInterrupt:
            return answer


def _resumed_type(value: Any) -> Optional[str]:
    if isinstance(value, Mapping) and isinstance(value.get("decisions"), list) and value["decisions"]:
        value = value["decisions"][0]
    if isinstance(value, Mapping):
        t = value.get("type")
        return t if isinstance(t, str) else None
    return None


def gate(
    client: Client,
    *,
    action: str,
    args: Union[str, Callable[[Any], Dict[str, Any]]],
    service: str = "langgraph",
    schema: Optional[Dict[str, Any]] = None,
    description: Optional[str] = None,
    result_key: str = "handrail",
    priority: Optional[str] = None,
) -> Callable[[Any], Dict[str, Any]]:
    """A node that holds the graph until a person decides on ``action``.

    ``args`` is the state key holding the action's arguments (a dict), or a function of
    the state returning them. See the module's docstring for the protocol.
    """

    def node(state: Any) -> Dict[str, Any]:
        payload = state[args] if isinstance(args, str) else args(state)
        config = get_config()
        scope = scope_of(config)
        thread = config["configurable"]["thread_id"]
        request_id = client.defer(
            service,
            action,
            payload,
            schema=schema,
            priority=priority,
            idempotency_scope=scope,
            # The snapshot is sealed on the client, so it needs an encryption key.
            state_snapshot={"langgraph": {"thread_id": thread}} if client._protocol.encrypts else None,
            # `thread` names the run, so an operator may grant a tool "in this thread".
            context={"thread": thread, "langgraph": {"thread_id": thread, "scope": scope}},
        )
        allowed = ["approve", "edit", "reject"]
        answer = _latest_answer(
            {
                "action_requests": [
                    {"name": action, "args": payload, "description": description or f"Approve {action}?"}
                ],
                "review_configs": [{"action_name": action, "allowed_decisions": allowed}],
                "handrail_request_id": request_id,
            }
        )
        decision = client.wait(request_id)
        truth = hitl_decision(decision, action)
        claimed = _resumed_type(answer)
        if claimed is not None and claimed != truth["type"]:
            raise HandrailError(
                f"resume value says {claimed!r} but request {request_id} was decided {decision.status}"
            )
        return {
            result_key: {
                "type": truth["type"],
                "args": decision.payload if decision.approved else None,
                "message": decision.reason,
                "request_id": request_id,
            }
        }

    node.__name__ = f"gate_{action}"
    return node


def resume(graph: Any, thread_id: str, decision: Decision, **invoke_options: Any) -> Any:
    """Resumes thread ``thread_id`` of a compiled graph with ``decision``; returns what
    ``graph.invoke`` returns."""
    config = {"configurable": {"thread_id": thread_id}}
    return graph.invoke(resume_command(decision), config, **invoke_options)


def resume_from_webhook(
    graph: Any,
    client: Client,
    body: bytes,
    headers: Any,
    secret: Optional[str] = None,
    *,
    thread_of: Optional[Callable[[str], Optional[str]]] = None,
    **invoke_options: Any,
) -> Any:
    """Verifies a Handrail webhook and resumes the thread its request was opened from.

    Returns what ``graph.invoke`` returns, or ``None`` for an event that resumes nothing
    (``request.created``, a request no gate opened). The thread is the one parked with the
    request (clients with an encryption key), else ``thread_of(request_id)`` (your own
    map, e.g. from the interrupt's ``handrail_request_id``). Deliveries may repeat: resuming a
    thread that already went on re-runs nothing the checkpointer has recorded.
    """
    event = client.verify_webhook(body, headers, secret)
    decision = event.decision
    if decision is None:
        return None
    thread: Optional[str] = None
    if isinstance(decision.state, dict) and "langgraph" in decision.state:
        thread = decision.state["langgraph"]["thread_id"]
    elif thread_of is not None:
        thread = thread_of(decision.request_id)
    if thread is None:
        return None
    return resume(graph, thread, decision, **invoke_options)
