"""An HTTP client for twilio's SDK that sends every call to TWILIO["API_BASE_URL"] (a stand-in, a proxy). Its own
module so that twilio's SDK is imported only with the first client built (modules.twilio.client)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response


class RedirectingHttpClient(TwilioHttpClient):
    """Sends every request to base_url, keeping the path: api.twilio.com and verify.twilio.com alike."""

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base = urlsplit(base_url)

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        parts = urlsplit(url)
        path = self.base.path.rstrip("/") + parts.path
        target = urlunsplit((self.base.scheme, self.base.netloc, path, parts.query, parts.fragment))
        return super().request(method, target, *args, **kwargs)
