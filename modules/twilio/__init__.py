"""Twilio SMS, WhatsApp and Verify through the official twilio package."""
