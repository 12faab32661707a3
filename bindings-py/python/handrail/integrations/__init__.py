"""Integrations with agent frameworks, each behind its extra: ``handrail[langgraph]``,
``handrail[crewai]``."""
