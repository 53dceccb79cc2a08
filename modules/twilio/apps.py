from django.apps import AppConfig


class TwilioConfig(AppConfig):
    name = "modules.twilio"
    label = "twilio_module"
    verbose_name = "Twilio"
