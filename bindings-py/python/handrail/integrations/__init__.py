"""Integrations with agent frameworks, each behind its extra: ``handrail[langgraph]``,
``handrail[crewai]``, ``handrail[langchain]`` (LangChain v1 agent middleware),
``handrail[openai-agents]`` (OpenAI Agents SDK)."""
