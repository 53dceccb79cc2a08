"""Rewrite the README's environment-variable table from the config models (`make docs`)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
START, END = "<!-- env-vars:start -->", "<!-- env-vars:end -->"


def env_table() -> str:
    environ = {**os.environ, "DJANGO_ENV": "development"}
    result = subprocess.run(
        [sys.executable, "manage.py", "show_config", "--env-vars"],
        cwd=BASE_DIR,
        env=environ,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def main() -> None:
    readme = BASE_DIR / "README.md"
    text = readme.read_text()
    block = f"{START}\n{env_table()}\n{END}"
    updated = re.sub(re.escape(START) + r".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    readme.write_text(updated)
    print(f"README.md: environment table {'updated' if updated != text else 'already current'}")


if __name__ == "__main__":
    main()
