"""``causely-incidentio simulator`` as a real process: prints its URL, answers, stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import re
import signal
import sys

import httpx
import pytest

pytestmark = pytest.mark.integration

TOKEN = "cli-secret-token-3e8f"


async def test_the_cli_serves_until_sigterm() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "causely_incidentio.cli", "simulator", "--host", "127.0.0.1", "--port", "0",
        "--token", TOKEN, "--rate-limit-capacity", "50", "--log-level", "DEBUG",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), timeout=30)).decode()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        assert match, line
        base_url = match[0]
        assert int(match[1]) > 0
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
            ok = await client.get("/v1/identity", headers={"Authorization": f"Bearer {TOKEN}"})
            wrong = await client.get("/v1/identity", headers={"Authorization": "Bearer nope"})
        assert ok.status_code == 200 and ok.json()["identity"]["roles"]
        assert ok.headers["X-RateLimit-Limit"].startswith("50,")
        assert wrong.status_code == 401
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
        assert proc.returncode == 0, err.decode()
        assert TOKEN not in line + out.decode() + err.decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_the_cli_fails_cleanly_when_the_port_is_taken() -> None:
    holder = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = holder.sockets[0].getsockname()[1]
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "causely_incidentio.cli", "simulator", "--host", "127.0.0.1", "--port", str(port),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(proc.communicate(), timeout=30)
        assert proc.returncode == 1
        assert b"cannot serve" in err
    finally:
        holder.close()
        await holder.wait_closed()
