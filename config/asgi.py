import os

from django.core.asgi import get_asgi_application

from cfg.body_limit import BodyLimit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Bodies over their limit are refused before Django's handler copies them to a temporary file.
application = BodyLimit(get_asgi_application())
