"""Print the Kubernetes Secret `app-secrets` (and optionally `keda-redis`) as YAML, for `kubectl apply -f -`.

    python scripts/k8s_secret_example.py --namespace app-production | kubectl apply -f -
    python scripts/k8s_secret_example.py --env-file deploy/kubernetes/secret.env --keda | kubectl apply -f -

SECRET_KEY is generated fresh unless the env file gives one; DATABASE_URL and REDIS_URL come from the env file
(NAME=value lines, deploy/kubernetes/secret.example.env) or the process environment, else a placeholder that the
app accepts as a URL but cannot connect to. Nothing is written to disk: pipe the output to kubectl, never to git.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

REQUIRED = ("SECRET_KEY", "DATABASE_URL", "REDIS_URL")
OPTIONAL = (
    "EMAIL__USERNAME",
    "EMAIL__PASSWORD",
    "TELEGRAM__BOT_TOKEN",
    "TELEGRAM__CHAT_ID",
    "TWILIO__ACCOUNT_SID",
    "TWILIO__AUTH_TOKEN",
    "TWILIO__FROM_NUMBER",
    "LLM__API_KEY",
)
PLACEHOLDERS = {
    "DATABASE_URL": "postgres://app:CHANGE-ME@db-rw:5432/app",
    "REDIS_URL": "redis://:CHANGE-ME@redis-master:6379/0",
}


def read_env_file(path: Path) -> dict[str, str]:
    """NAME=value lines; blank lines and # comments skipped, one pair of surrounding quotes removed."""
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, separator, value = line.partition("=")
        if not separator:
            raise SystemExit(f"{path}:{number}: expected NAME=value, got {line!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name.strip()] = value
    return values


def secret_values(given: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """The Secret's data and the names that still hold a placeholder."""
    data = {"SECRET_KEY": given.get("SECRET_KEY") or secrets.token_urlsafe(50)}
    placeholders = []
    for name, placeholder in PLACEHOLDERS.items():
        value = given.get(name, "")
        if not value or "CHANGE-ME" in value:
            placeholders.append(name)
        data[name] = value or placeholder
    data.update({name: given[name] for name in OPTIONAL if given.get(name)})
    return data, placeholders


def keda_values(redis_url: str) -> dict[str, str]:
    """KEDA's Redis scaler takes host:port and a password, not a URL."""
    parts = urlsplit(redis_url)
    return {"address": f"{parts.hostname}:{parts.port or 6379}", "password": parts.password or ""}


def manifest(name: str, namespace: str, data: Mapping[str, str]) -> str:
    # JSON strings are YAML double-quoted scalars: any value is quoted correctly.
    lines = [
        "apiVersion: v1",
        "kind: Secret",
        "type: Opaque",
        "metadata:",
        f"  name: {name}",
        f"  namespace: {namespace}",
        "stringData:",
    ]
    lines += [f"  {key}: {json.dumps(value)}" for key, value in data.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--namespace", default="app-production", help="default app-production")
    parser.add_argument("--name", default="app-secrets", help="default app-secrets (what the manifests reference)")
    parser.add_argument("--env-file", type=Path, help="NAME=value lines (deploy/kubernetes/secret.example.env)")
    parser.add_argument("--keda", action="store_true", help="also print keda-redis for the keda component")
    args = parser.parse_args(argv)

    given = {name: os.environ[name] for name in (*REQUIRED, *OPTIONAL) if os.environ.get(name)}
    if args.env_file:
        given.update(read_env_file(args.env_file))
    data, placeholders = secret_values(given)
    output = manifest(args.name, args.namespace, data)
    if args.keda:
        output += "---\n" + manifest("keda-redis", args.namespace, keda_values(data["REDIS_URL"]))
    sys.stdout.write(output)
    if placeholders:
        left = ", ".join(placeholders)
        print(f"placeholders left in {left}: the app cannot connect until you set them", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
