"""``causely-incidentio send FILE --url URL``: post a notification the way Causely does (its test button)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

import httpx

from causely_incidentio.settings import Settings


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    token = args.token or Settings.from_env().causely_receiver_token
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        body = Path(args.file).read_bytes()
    except OSError as exc:
        out.write(f"cannot read {args.file}: {exc.strerror}\n")
        return 2
    try:
        resp = httpx.post(args.url, content=body, headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        out.write(f"cannot reach {args.url}: {type(exc).__name__}: {exc}\n")
        return 2
    out.write(f"{resp.status_code} {resp.reason_phrase}\n{resp.text}\n")
    return 0 if resp.is_success else 1
