from __future__ import annotations

from typing import Any

from cfg.models.core import CoreConfig


def leads_settings(config: CoreConfig) -> dict[str, Any]:
    """LEADS: the capture form's spam defences, consent, embedding, assignment and notifications read by apps.leads."""
    leads = config.leads
    return {
        "LEADS": {
            "MIN_FILL_SECONDS": leads.min_fill_seconds,
            "FORM_MAX_AGE": leads.form_max_age,
            "DEDUP_WINDOW": leads.dedup_window,
            "TURNSTILE_SITE_KEY": leads.turnstile_site_key if leads.turnstile_enabled else "",
            "TURNSTILE_SECRET_KEY": leads.turnstile_secret_key.get_secret_value() if leads.turnstile_enabled else "",
            "TURNSTILE_VERIFY_URL": leads.turnstile_verify_url,
            "TURNSTILE_TIMEOUT": leads.turnstile_timeout,
            "ROUND_ROBIN": leads.round_robin,
            "ROUND_ROBIN_GROUP": leads.round_robin_group,
            "TELEGRAM_CHAT_ID": leads.telegram_chat_id or config.telegram.chat_id,
            "EMBED_ORIGINS": list(leads.embed_origins),
            "CONSENT_TEXT": leads.consent_text,
            "CONSENT_VERSION": leads.consent_version,
            "THROTTLE_RATES": {"leads_submit": leads.throttle_submit},
        }
    }
