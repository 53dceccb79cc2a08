"""Mounted at api/support/: the customer's tickets, the staff queue, attachments and the live event streams."""

from django.urls import path

from apps.support.api import attachments, customer, live, staff

app_name = "support"

urlpatterns = [
    path("tickets/", customer.TicketListView.as_view(), name="tickets"),
    path("tickets/<int:number>/", customer.TicketDetailView.as_view(), name="ticket"),
    path("tickets/<int:number>/messages/", customer.TicketMessagesView.as_view(), name="ticket-messages"),
    path("tickets/<int:number>/read/", customer.TicketReadView.as_view(), name="ticket-read"),
    path("tickets/<int:number>/events/", live.TicketEventsView.as_view(), name="ticket-events"),
    path("tickets/<int:number>/typing/", live.TicketTypingView.as_view(), name="ticket-typing"),
    path("categories/", customer.CategoryListView.as_view(), name="categories"),
    path("attachments/<str:token>/", attachments.AttachmentView.as_view(), name="attachment"),
    path("queue/", staff.QueueView.as_view(), name="queue"),
    path("queue/events/", live.QueueEventsView.as_view(), name="queue-events"),
    path("queue/<int:number>/", staff.StaffTicketView.as_view(), name="staff-ticket"),
    path("queue/<int:number>/messages/", staff.StaffMessagesView.as_view(), name="staff-ticket-messages"),
    path("queue/<int:number>/status/", staff.StaffStatusView.as_view(), name="staff-ticket-status"),
    path("queue/<int:number>/priority/", staff.StaffPriorityView.as_view(), name="staff-ticket-priority"),
    path("queue/<int:number>/assign/", staff.StaffAssignView.as_view(), name="staff-ticket-assign"),
    path("queue/<int:number>/read/", staff.StaffReadView.as_view(), name="staff-ticket-read"),
    path("queue/<int:number>/events/", live.StaffTicketEventsView.as_view(), name="staff-ticket-events"),
    path("queue/<int:number>/typing/", live.StaffTypingView.as_view(), name="staff-ticket-typing"),
    path("canned-replies/", staff.CannedReplyListView.as_view(), name="canned-replies"),
]
