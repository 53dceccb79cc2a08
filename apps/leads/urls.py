"""Mounted at the site's root: the API under api/leads/, the public form's pages under leads/."""

from django.urls import path

from apps.leads import views
from apps.leads.api import public, staff

app_name = "leads"

urlpatterns = [
    path("api/leads/", staff.LeadListView.as_view(), name="leads"),
    path("api/leads/submit/", public.SubmitView.as_view(), name="submit"),
    path("api/leads/form-token/", public.FormTokenView.as_view(), name="form-token"),
    path("api/leads/<int:lead_id>/", staff.LeadDetailView.as_view(), name="lead"),
    path("api/leads/<int:lead_id>/status/", staff.LeadStatusView.as_view(), name="lead-status"),
    path("api/leads/<int:lead_id>/assign/", staff.LeadAssignView.as_view(), name="lead-assign"),
    path("api/leads/<int:lead_id>/notes/", staff.LeadNotesView.as_view(), name="lead-notes"),
    path("leads/form/", views.LeadFormView.as_view(), name="form"),
    path("leads/thanks/", views.thanks, name="thanks"),
]
