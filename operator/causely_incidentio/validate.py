"""``causely-incidentio validate FILE...``: check Secrets, IncidentDestinations and payloads before use.

Exit code 0 when everything is valid, 1 when anything is not; each problem names the file, the object and
the key. Token values are never printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TextIO

from causely_incidentio.destinations import SecretIndex, build_destinations, load_documents
from causely_incidentio.payload import PayloadSyntaxError, parse_notification
from causely_incidentio.problems import InvalidInput
from causely_incidentio.settings import Settings


def _is_payload(path: Path) -> bool:
    if path.suffix != ".json":
        return False
    text = path.read_text()
    try:
        data = json.loads(text)
    except ValueError:
        return "apiVersion" not in text
    return isinstance(data, dict) and "kind" not in data


def validate_file(path: Path, settings: Settings, out: TextIO) -> bool:
    if _is_payload(path):
        try:
            n = parse_notification(path.read_bytes())
        except (InvalidInput, PayloadSyntaxError) as exc:
            out.write(f"{path}: invalid notification: {exc}\n")
            return False
        out.write(f"{path}: valid {n.type.value} notification for {n.object_id} ({n.severity.value})\n")
        return True
    try:
        docs = load_documents(path)
    except InvalidInput as exc:
        out.write(f"{path}: {exc.message}\n")
        return False
    index = SecretIndex(docs)
    unchecked: list[str] = []

    def lookup(namespace: str, name: str, key: str) -> str | None:
        if index.get(namespace, name) is not None:
            return index.lookup(namespace, name, key)
        unchecked.append(f"Secret {namespace}/{name}")
        return "unchecked"  # a token Secret outside the given files: validate the rest

    result = build_destinations(docs, settings.model_copy(update={"incident_io_api_token": None}),
                                secret_lookup=lookup)
    for c in result.valid:
        out.write(f"{path}: valid destination {c.id} ({c.source.value})\n")
    for err in result.invalid:
        out.write(f"{path}: invalid: {err.message}\n")
    for name in unchecked:
        out.write(f"{path}: note: {name} is not in the given files; its token was not checked\n")
    if not result.valid and not result.invalid:
        out.write(f"{path}: no Causely IncidentIO Secret or IncidentDestination found\n")
        return False
    return not result.invalid


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    settings = Settings.from_env()
    ok = True
    for name in args.files:
        path = Path(name)
        if not path.exists():
            out.write(f"{path}: no such file\n")
            ok = False
            continue
        ok = validate_file(path, settings, out) and ok
    return 0 if ok else 1
