from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty

from apps.accounts.services import user_touch_last_activity


class LastActivityMiddleware:
    """Records when an authenticated user was last seen; at most one write per user per interval.

    Looks only at a user something already resolved (the session auth of a page, DRF's JWT auth, which sets
    request.user): it never loads a user just for this.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = request.__dict__.get("user")
        if isinstance(user, SimpleLazyObject):
            if user._wrapped is empty:
                return response
            user = user._wrapped
        if user is not None and getattr(user, "is_authenticated", False) and user.is_active:
            user_touch_last_activity(user=user)
        return response
