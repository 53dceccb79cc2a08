"""The README's environment table is generated from the config models: it must not drift."""

import re
from pathlib import Path

from django.core.management import call_command

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_lists_every_environment_variable_with_its_default(capsys):
    call_command("show_config", env_vars=True)
    generated = capsys.readouterr().out.strip()
    block = re.search(r"<!-- env-vars:start -->\n(.*?)\n<!-- env-vars:end -->", README.read_text(), re.S)
    assert block, "README.md lost its env-vars markers"
    assert block.group(1) == generated, "README.md's environment table is stale: run `make docs`"


def test_readme_shows_the_two_commands():
    text = README.read_text()
    assert "make run" in text and "make test" in text


def test_the_environment_table_does_not_embed_the_project_name(capsys):
    """The README carries this table: were the name in it, every renamed clone's README would differ from
    upstream's, and each upstream change to the table would conflict in `git merge`."""
    from config.config import ProjectConfig

    call_command("show_config", env_vars=True)
    generated = capsys.readouterr().out
    assert "| `PROJECT_NAME` | `(set in config/config.py)` |" in generated
    assert "| `PROJECT_SLUG` | `(set in config/config.py)` |" in generated
    for field in ("project_name", "project_slug"):
        assert f"`{ProjectConfig.model_fields[field].default}`" not in generated
