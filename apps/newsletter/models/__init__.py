"""The newsletter's data: the audience (lists, subscribers, consent, suppression) and the campaigns sent to it."""

from apps.newsletter.models.audience import (
    ConsentAction,
    ConsentRecord,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
)
from apps.newsletter.models.campaigns import *  # noqa: F403  (the campaign models, listed by that module's __all__)

__all__ = [
    "ConsentAction",
    "ConsentRecord",
    "MailingList",
    "Subscriber",
    "Subscription",
    "SubscriptionStatus",
    "Suppression",
    "SuppressionReason",
]
