"""SMS, WhatsApp and Verify (start, check) with twilio's Client; TWILIO["API_BASE_URL"] redirects every call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

# Twilio error codes that refuse the destination number, not the account: another number would work.
# https://www.twilio.com/docs/api/errors
RECIPIENT_ERROR_CODES = frozenset(
    {
        21211,  # invalid 'To' phone number
        21214,  # 'To' phone number cannot be reached
        21217,  # phone number does not appear to be valid
        21265,  # 'To' number cannot be a short code
        21408,  # sending to the region of the 'To' number is not enabled
        21610,  # the recipient unsubscribed (replied STOP)
        21612,  # the 'To' number cannot be reached over this route
        21614,  # 'To' number is not a valid mobile number
        63003,  # WhatsApp: the channel could not find the 'To' address
        63024,  # WhatsApp: invalid message recipient
    }
)


class TwilioError(Exception):
    """Twilio refused the call (status set) or could not be reached (status None)."""

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code

    @property
    def is_outage(self) -> bool:
        return self.status is None or self.status >= 500 or self.status == 429

    @property
    def recipient_refused(self) -> bool:
        """Twilio refused the destination number (a 4xx naming it: invalid, unreachable, unsubscribed), not the
        account: authentication, configuration and rate errors are the sender's side."""
        return self.status is not None and 400 <= self.status < 500 and self.code in RECIPIENT_ERROR_CODES


class TwilioNotConfigured(TwilioError):
    """A Twilio credential, sender number or Verify service that this send needs is not set."""


@dataclass(frozen=True)
class SentMessage:
    sid: str
    status: str


class DjangoTwilio:
    def __init__(self, conf: dict[str, Any] | None = None) -> None:
        self.conf = conf or settings.TWILIO
        if not (self.conf["ACCOUNT_SID"] and self.conf["AUTH_TOKEN"]):
            raise TwilioNotConfigured("Twilio is not configured: set TWILIO__ACCOUNT_SID and TWILIO__AUTH_TOKEN")
        # twilio's SDK loads with the first client built: a process that sends no SMS never imports it.
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        from modules.twilio.redirect import RedirectingHttpClient

        timeout = self.conf["TIMEOUT"]
        base_url = self.conf["API_BASE_URL"]
        http_client = (
            RedirectingHttpClient(base_url, timeout=timeout) if base_url else TwilioHttpClient(timeout=timeout)
        )
        # A non-empty environment keeps twilio from reading TWILIO_* from os.environ behind the config's back.
        self.client = Client(
            self.conf["ACCOUNT_SID"], self.conf["AUTH_TOKEN"], http_client=http_client, environment={"_": "_"}
        )

    def send_sms(self, to: str, body: str) -> SentMessage:
        sender = self.conf["FROM_NUMBER"]
        if not sender:
            raise TwilioNotConfigured("SMS is not configured: set TWILIO__FROM_NUMBER")
        return self._message(to=to, from_=sender, body=body)

    def send_whatsapp(self, to: str, body: str) -> SentMessage:
        sender = self.conf["WHATSAPP_FROM"]
        if not sender:
            raise TwilioNotConfigured("WhatsApp is not configured: set TWILIO__WHATSAPP_FROM")
        return self._message(to=f"whatsapp:{to}", from_=f"whatsapp:{sender}", body=body)

    def _message(self, **fields: str) -> SentMessage:
        message = self._call(lambda: self.client.messages.create(**fields))
        return SentMessage(sid=message.sid, status=str(message.status))

    def ping(self) -> str:
        """Fetch the account (an authenticated GET that sends nothing): checks the credentials and that Twilio
        answers, within the configured timeout. Returns the account's status ("active")."""
        account = self._call(lambda: self.client.api.v2010.accounts(self.conf["ACCOUNT_SID"]).fetch())
        return str(account.status)

    def verify_start(self, to: str, channel: str = "sms") -> str:
        """Twilio Verify sends its own code; returns the verification status ("pending")."""
        verification = self._call(lambda: self._verify().verifications.create(to=to, channel=channel))
        return str(verification.status)

    def verify_check(self, to: str, code: str) -> bool:
        check = self._call(lambda: self._verify().verification_checks.create(to=to, code=code))
        return bool(check.status == "approved")

    def _verify(self) -> Any:
        sid = self.conf["VERIFY_SERVICE_SID"]
        if not sid:
            raise TwilioNotConfigured("Twilio Verify is not configured: set TWILIO__VERIFY_SERVICE_SID")
        return self.client.verify.v2.services(sid)

    @staticmethod
    def _call(operation: Any) -> Any:
        import requests
        from twilio.base.exceptions import TwilioException, TwilioRestException

        try:
            return operation()
        except TwilioRestException as error:
            raise TwilioError(f"Twilio {error.status}: {error.msg}", status=error.status, code=error.code) from error
        except (requests.RequestException, TwilioException) as error:
            raise TwilioError(f"Twilio unreachable ({type(error).__name__})") from error


def send_sms(to: str, body: str) -> SentMessage:
    return DjangoTwilio().send_sms(to, body)


def send_whatsapp(to: str, body: str) -> SentMessage:
    return DjangoTwilio().send_whatsapp(to, body)
