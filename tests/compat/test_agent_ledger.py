"""The published Agent Ledger client (`agent-ledger-sdk` 0.0.6), used as its README shows,
against a real `handrail serve` under `/compat/agent-ledger`; budgets set by an operator
with `handrail budget set`."""

import json
import os
import subprocess

import httpx
import pytest
from agent_ledger_sdk import AgentLedgerClient, AgentLedgerError, BudgetGuardrailError, instrument_tool, run_session

BIN = os.environ.get("HANDRAIL_BIN", "handrail")


@pytest.fixture(scope="module")
def server(server):
    """The module's fresh server (conftest.py) as (base URL, agent key, operator token)."""
    return server.url, server.agent_key, server.operator_token


def ours(url, token, path):
    """GET on our own API."""
    r = httpx.get(url + path, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return r.json()


def budget_set(url, operator, agent, usd):
    """The operator's CLI: `handrail budget set AGENT --daily-usd N`."""
    env = dict(os.environ, HANDRAIL_URL=url, HANDRAIL_OPERATOR_TOKEN=operator)
    out = subprocess.run(
        [BIN, "budget", "set", agent, "--daily-usd", str(usd)], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def llm_call(step, model, tokens_in, tokens_out):
    return {
        "stepIndex": step,
        "provider": "openai",
        "model": model,
        "prompt": "Draft a welcome email.",
        "response": "Welcome!",
        "tokensIn": tokens_in,
        "tokensOut": tokens_out,
        "latencyMs": 12,
    }


def test_session_with_llm_and_tool_calls_feeds_agent_telemetry(server):
    url, agent, operator = server
    ledger = AgentLedgerClient(api_key=agent, base_url=url + "/compat/agent-ledger")
    try:
        with run_session(ledger, "support-bot") as (session_id, steps):
            ledger.log_llm_call(session_id, llm_call(steps.next(), "gpt-4o-mini-2024-07-18", 1000, 500))
            out = instrument_tool(
                ledger=ledger,
                session_id=session_id,
                step_index=steps.next(),
                tool_name="weather",
                tool_input={"city": "Boston"},
                run=lambda: {"temp_f": 61},
            )
            ledger.log_events(session_id, [{"type": "checkpoint", "stepIndex": steps.next(), "note": "done"}])
    finally:
        ledger.close()
    assert out == {"temp_f": 61}

    cost = (1000 * 0.15 + 500 * 0.60) / 1_000_000  # gpt-4o-mini, built-in table
    detail = ours(url, operator, "/v1/agents/support-bot")
    tools = detail["telemetry"]["tools"]
    assert tools["weather"]["calls"] == 1
    assert tools["llm:openai/gpt-4o-mini-2024-07-18"]["cost_usd"] == pytest.approx(cost)
    assert detail["budget"]["daily_usd"] is None
    assert detail["budget"]["spent_today_usd"] == pytest.approx(cost)

    [session] = ours(url, operator, "/v1/agents/support-bot/sessions")["sessions"]
    assert session["id"] == session_id and session["status"] == "success"
    assert session["events"] == 4  # llm_call, tool_call, tool_result, custom
    assert session["cost_usd"] == pytest.approx(cost)


def test_budget_exceeded_raises_the_guardrail_error_and_records_nothing(server):
    url, agent, operator = server
    set_answer = budget_set(url, operator, "budget-bot", 0.01)
    assert set_answer["daily_usd"] == 0.01 and set_answer["spent_today_usd"] == 0

    ledger = AgentLedgerClient(api_key=agent, base_url=url + "/compat/agent-ledger")
    small = (1000 * 0.15 + 500 * 0.60) / 1_000_000  # gpt-4o-mini
    big = (10_000 * 2.50 + 10_000 * 10.00) / 1_000_000  # gpt-4o
    with pytest.raises(BudgetGuardrailError) as caught:
        with run_session(ledger, "budget-bot") as (session_id, steps):
            ledger.log_llm_call(session_id, llm_call(steps.next(), "gpt-4o-mini", 1000, 500))
            ledger.log_llm_call(session_id, llm_call(steps.next(), "gpt-4o", 10_000, 10_000))
    ledger.close()
    d = caught.value.details
    assert d.agent_name == "budget-bot"
    assert d.daily_limit_usd == pytest.approx(0.01)
    assert d.spent_today_usd == pytest.approx(small)
    assert d.attempted_cost_usd == pytest.approx(big)
    assert d.projected_cost_usd == pytest.approx(small + big)
    assert d.remaining_budget_usd == pytest.approx(0.01 - small)
    assert "budget" in str(caught.value).lower()

    detail = ours(url, operator, "/v1/agents/budget-bot")
    assert detail["budget"]["spent_today_usd"] == pytest.approx(small)  # the refused call is not recorded
    assert detail["budget"]["remaining_usd"] == pytest.approx(0.01 - small)
    assert "llm:openai/gpt-4o" not in detail["telemetry"]["tools"]
    [session] = ours(url, operator, "/v1/agents/budget-bot/sessions")["sessions"]
    assert session["status"] == "error" and "budget" in session["error"].lower()
    assert session["events"] == 1


def test_a_wrong_key_is_an_agent_ledger_error(server):
    url, _, _ = server
    with AgentLedgerClient(api_key="hr_agent_not-a-key", base_url=url + "/compat/agent-ledger") as ledger:
        with pytest.raises(AgentLedgerError) as caught:
            ledger.start_session("support-bot")
    assert not isinstance(caught.value, BudgetGuardrailError)
    # The client shows the server's `error` string: a message, not our error object.
    assert "valid" in str(caught.value) and "{" not in str(caught.value)
