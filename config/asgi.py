import os

from cfg.startup import collector_paused

with collector_paused():
    from cfg.body_limit import BodyLimit
    from cfg.request_threads import asgi_application, with_request_threads

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

    # Bodies over their limit are refused before Django's handler copies them to a temporary file. A request's
    # middleware and view run in one switch to its thread, and with the database pool that thread is kept for the
    # next request.
    application = with_request_threads(BodyLimit(asgi_application()))
