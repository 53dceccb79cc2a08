"""The agents API by resource: agents (the ones the user may run), conversations (start, read with their history,
delete, send a message), runs (poll, stream their events, cancel) and approvals (staff decide tool calls).
apps/agents/urls.py routes them; the SSE plumbing is modules.api.events."""
