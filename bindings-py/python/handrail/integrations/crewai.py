"""CrewAI: a person as a tool, and a guard for existing tools.

``pip install 'handrail[crewai]'``.

- :class:`HumanApprovalTool` is a CrewAI ``BaseTool`` an agent calls before acting:
  ``ask_human_approval(action, payload, question)`` asks a person through Handrail and
  answers with :func:`handrail.guard.decision_text` (``APPROVED``, ``APPROVED WITH EDITS:
  …; use these values: …``, ``REJECTED: <reason>``).
- :func:`guard_tool` wraps an existing CrewAI tool in :func:`handrail.guard`: the firewall
  before every call, review when it says so, the tool run with the approved arguments and
  exactly once per run scope. A rejection is returned to the agent as text by default
  (``on_reject="return"``), so the crew goes on without the action instead of failing.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Type, Union

from crewai.tools import BaseTool
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from handrail._firewall import Firewall
from handrail.client import Client, Decision
from handrail.guard import guard, tool

__all__ = ["GuardedTool", "HumanApprovalTool", "guard_tool"]


class _ApprovalArgs(BaseModel):
    action: str = Field(description="What you are about to do, e.g. 'refund' or 'send_email'.")
    payload: Dict[str, Any] = Field(default_factory=dict, description="The exact values you will use.")
    question: Optional[str] = Field(default=None, description="Anything the person should know.")


class HumanApprovalTool(BaseTool):
    """Asks a person to approve an action before the agent takes it."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str = "ask_human_approval"
    description: str = (
        "Ask a person to approve an action before you take it. Returns APPROVED, "
        "APPROVED WITH EDITS (then use the values given), or REJECTED with the reason "
        "(then do not take the action)."
    )
    args_schema: Type[BaseModel] = _ApprovalArgs
    client: Any = None
    service: str = "crewai"
    _ask: Any = PrivateAttr(default=None)

    def _run(self, action: str, payload: Optional[Dict[str, Any]] = None, question: Optional[str] = None) -> str:
        if self._ask is None:
            self._ask = tool(self.client, service=self.service)
        return self._ask(action, payload or {}, question)  # type: ignore[no-any-return]


class GuardedTool(BaseTool):
    """An existing CrewAI tool behind :func:`handrail.guard` (made by :func:`guard_tool`)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    inner: Any = None
    _guarded: Any = PrivateAttr(default=None)

    def _run(self, *args: Any, **kwargs: Any) -> Any:
        return self._guarded(*args, **kwargs)


def guard_tool(
    inner: BaseTool,
    *,
    client: Optional[Client] = None,
    firewall: Optional[Firewall] = None,
    agent: Optional[str] = None,
    effect: Optional[str] = None,
    schema: Optional[Dict[str, Any]] = None,
    on_reject: Union[str, Callable[[Decision], Any]] = "return",
    scope: str = "default",
) -> GuardedTool:
    """``inner`` behind the firewall and a person; same name, description and arguments.

    ``schema`` defaults to the JSON Schema of the tool's ``args_schema``, so an edit is
    checked against the tool's own arguments.
    """
    if schema is None and inner.args_schema is not None:
        schema = inner.args_schema.model_json_schema()
    wrapped = GuardedTool(
        name=inner.name,
        description=inner.description,
        args_schema=inner.args_schema,
        inner=inner,
    )
    wrapped._guarded = guard(
        inner._run,
        client=client,
        firewall=firewall,
        agent=agent,
        effect=effect,
        schema=schema,
        on_reject=on_reject,
        name=inner.name,
        scope=scope,
    )
    return wrapped
