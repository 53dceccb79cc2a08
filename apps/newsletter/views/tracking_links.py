"""The tracking endpoints a campaign mail links to: the click redirect and the open pixel. Public (a mail client
follows them with no session), GET only, answered from the signed token alone."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.newsletter import tracking

BAD_LINK = "This link is not valid: it was altered or cut short. Use the link exactly as it is in the email."


def _bad_link() -> HttpResponse:
    return HttpResponseBadRequest(BAD_LINK, content_type="text/plain; charset=utf-8")


@require_GET
@never_cache
def click(request: HttpRequest, token: str) -> HttpResponse:
    """302 to the link's original http(s) target, counted for its delivery; 400 for a token that does not verify."""
    try:
        target = tracking.read_click_token(token)
    except tracking.BadTrackingLink:
        return _bad_link()
    if target.delivery_id is not None:
        tracking.record_click(delivery_id=target.delivery_id, url=target.url)
    return HttpResponseRedirect(target.url)


@require_GET
@never_cache
def open_pixel(request: HttpRequest, token: str) -> HttpResponse:
    """The 1x1 transparent GIF, never cached (each load is a request), counting an open of its delivery."""
    try:
        delivery_id = tracking.read_open_token(token)
    except tracking.BadTrackingLink:
        return _bad_link()
    if delivery_id is not None:
        tracking.record_open(delivery_id=delivery_id)
    return HttpResponse(tracking.PIXEL, content_type="image/gif")
