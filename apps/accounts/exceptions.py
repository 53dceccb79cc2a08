"""The errors of accounts. Services raise them; the API's exception handler (modules.api.errors) answers each with
its status and message, so views never catch them."""

from __future__ import annotations

from rest_framework import status

from modules.api.exceptions import ServiceError

INVALID_CODE = "The code is wrong, has expired or was used already. Request a new code."
BAD_REFRESH = "The refresh token is invalid, expired or revoked. Sign in again."


class AccountsError(ServiceError):
    """The base of every error of accounts."""


class ChannelUnavailable(AccountsError):
    """The chosen channel is not configured (no provider credentials) or not offered."""

    code = "channel_unavailable"


class ChannelMismatch(AccountsError):
    """The identifier does not fit the channel (an email address for SMS, say)."""

    code = "channel_mismatch"


class InvalidCode(AccountsError):
    """The sign-in code is wrong, expired, used or out of attempts: one message for all."""

    code = "invalid_code"
    message = INVALID_CODE


class InvalidRefreshToken(AccountsError):
    """The refresh token is malformed, expired or blacklisted, was spent by a concurrent request, or belongs to an
    inactive account."""

    # 401, and raised by services: DRF's AuthenticationFailed would be a 403 on views without authenticators.
    status_code = status.HTTP_401_UNAUTHORIZED
    code = "token_not_valid"
    message = BAD_REFRESH


class RefreshTokenOfAnotherUser(AccountsError):
    status_code = status.HTTP_403_FORBIDDEN
    code = "permission_denied"
    message = "This refresh token belongs to another user."


class ChangeRefused(AccountsError):
    """A change of the email address, phone number or Telegram chat cannot be done as asked; the message says why
    and what to do."""

    code = "change_refused"


class WrongCodes(AccountsError):
    """One or both codes of a pending change are wrong, expired or used up, or no change is pending."""

    code = "wrong_codes"


class AvatarRejected(AccountsError):
    """The upload is not an accepted image (type, size or dimensions)."""

    code = "invalid_avatar"
    field = "avatar"


class DeliveryFailed(AccountsError):
    """The provider could not take the message. `reason` is for the logs and the OTP record (it never holds the
    code); the client gets the services' ProviderUnavailable, which says what was and was not sent."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "provider_unavailable"
    message = "The message could not be sent right now."

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason[:255]


class RecipientRefused(DeliveryFailed):
    """The provider works but refused this destination (a chat that blocked the bot, a mailbox or number that does
    not exist): another destination would have worked. Any other DeliveryFailed is an outage on the sending side."""


class ProviderUnavailable(AccountsError):
    """A send failed; the message tells the client what that left undone."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "provider_unavailable"
    message = "The message could not be sent right now."


class ThrottleUnavailable(AccountsError):
    """The throttle store (Redis) cannot count: the request is refused rather than let through uncounted."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "throttle_unavailable"
    message = (
        "Sign-in is briefly unavailable: the store that limits attempts (Redis) cannot be reached. Try again shortly."
    )
