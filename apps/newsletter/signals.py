"""Signals between the audience and the campaigns: the campaign statistics count unsubscribes made from a mail."""

from django.dispatch import Signal

# Sent once a subscription is unsubscribed (not again for one already unsubscribed), with `subscription` and
# `campaign_id` (the campaign whose mail held the link, or None).
unsubscribed = Signal()
