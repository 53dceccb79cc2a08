import io
import json
import logging

from modules.logger.formatters import JsonFormatter
from modules.logger.loggers import get_logger


def test_get_logger_lives_under_the_project_namespace(settings):
    assert get_logger("billing").name == f"{settings.PROJECT_SLUG}.billing"
    assert get_logger(f"{settings.PROJECT_SLUG}.x").name == f"{settings.PROJECT_SLUG}.x"


def test_json_formatter_writes_one_object_per_line_with_extras():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("json-test")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("paid %s", 42, extra={"order_id": 7})
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{"))
    assert first["message"] == "paid 42" and first["level"] == "WARNING" and first["order_id"] == 7
    assert "ValueError: boom" in second["exception"]


def test_logging_config_uses_text_outside_deployments(settings):
    assert settings.LOGGING["handlers"]["console"]["formatter"] == "text"
