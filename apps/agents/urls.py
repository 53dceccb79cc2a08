from django.urls import path

from apps.agents.api import agents, approvals, conversations, runs

app_name = "agents"

urlpatterns = [
    path("", agents.AgentListView.as_view(), name="agents"),
    path("conversations/", conversations.ConversationListView.as_view(), name="conversations"),
    path(
        "conversations/<int:conversation_id>/",
        conversations.ConversationDetailView.as_view(),
        name="conversation",
    ),
    path(
        "conversations/<int:conversation_id>/messages/",
        conversations.MessageView.as_view(),
        name="conversation-messages",
    ),
    path("runs/<int:run_id>/", runs.RunDetailView.as_view(), name="run"),
    path("runs/<int:run_id>/events/", runs.RunEventsView.as_view(), name="run-events"),
    path("runs/<int:run_id>/cancel/", runs.RunCancelView.as_view(), name="run-cancel"),
    path("approvals/", approvals.ApprovalListView.as_view(), name="approvals"),
    path("tool-calls/<int:tool_call_id>/approve/", approvals.ApproveView.as_view(), name="tool-call-approve"),
    path("tool-calls/<int:tool_call_id>/deny/", approvals.DenyView.as_view(), name="tool-call-deny"),
]
