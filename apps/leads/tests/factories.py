"""Rows and requests for leads tests, made the way the application makes them (plain functions)."""

from __future__ import annotations

import time
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from apps.leads import services
from apps.leads.defences import form_token_issue
from apps.leads.models import Lead

SUBMIT = reverse("leads:submit")
LEADS = reverse("leads:leads")


def user_create(email: str = "ada@example.com", **fields: Any) -> Any:
    return get_user_model().objects.create_user(email=email, **fields)


def staff_create(email: str = "staff@example.com", *, leads_permissions: bool = True, **fields: Any) -> Any:
    """A staff member who works the pipeline (may view and change leads), or, without `leads_permissions`, one of
    another team, whom the admin shows no leads."""
    user = get_user_model().objects.create_user(email=email, is_staff=True, **fields)
    if leads_permissions:
        user.user_permissions.add(*Permission.objects.filter(content_type__app_label="leads"))
    return user


def client_for(user: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


def shown_token(seconds_ago: float = 60) -> str:
    """A form token for a form shown `seconds_ago` (past the minimum fill time by default)."""
    return form_token_issue(at=time.time() - seconds_ago)


def form_data(**overrides: Any) -> dict[str, Any]:
    """What a person sends with the form."""
    return {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "phone": "+44 20 7946 0000",
        "company": "Analytical Engines",
        "message": "We would like a demo.",
        "source": "pricing",
        "utm_source": "newsletter",
        "utm_campaign": "spring",
        "consent": True,
        "form_token": shown_token(),
        **overrides,
    }


def submit(client: APIClient, *, ip: str = "203.0.113.5", fmt: str = "json", **overrides: Any) -> Any:
    return client.post(SUBMIT, form_data(**overrides), format=fmt, REMOTE_ADDR=ip)


def lead_create(email: str = "grace@example.com", **fields: Any) -> Lead:
    """A lead submitted through the service, as the form would (no request)."""
    submission = services.Submission.of({"email": email, "name": "Grace Hopper", "consent": True, **fields})
    return services.lead_submit(submission=submission, visitor=services.Visitor(ip="198.51.100.7")).lead


def lead_url(lead: Lead, name: str = "lead") -> str:
    return reverse(f"leads:{name}", args=[lead.pk])
