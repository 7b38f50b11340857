"""`triage serve` as it runs: a real uvicorn on 127.0.0.1, on a free port, in a subprocess."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2 as httpx

from tests.conftest import concerns, make_referral
from triage.serve import hash_token

TOKEN = "front-door-token-synthetic-0001"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def running_server(tmp_path: Path, *options: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`triage serve` on 127.0.0.1 and a free port, until the block ends; (base URL, process)."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "triage.cli", "serve", "--port", str(port), *options],
        env={**os.environ, "TRIAGE_LOG_KEY": "synthetic-test-key-0001"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            assert time.monotonic() < deadline, "the server did not start in 30 s"
            time.sleep(0.2)
        yield base, server
    finally:
        if server.poll() is None:
            server.terminate()
        server.wait(timeout=30)
        for pipe in (server.stdout, server.stderr):
            if pipe is not None:
                pipe.close()


def test_a_real_server_routes_a_referral_with_a_token(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text(f"front_door {hash_token(TOKEN)}\n")
    log = f"sqlite:///{tmp_path / 'log.sqlite'}"
    with running_server(tmp_path, "--tokens", str(tokens), "--log", log) as (base, server):
        referral = json.dumps(make_referral(concerns=concerns("domestic_abuse")))
        headers = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
        response = httpx.post(f"{base}/v1/route", content=referral, headers=headers, timeout=10)
        assert response.status_code == 200, response.text
        assert response.json()["decisions"][0]["route"] == "intensive_early_help"
        refused = httpx.post(f"{base}/v1/route", content=referral, timeout=10)
        assert refused.status_code == 401
        assert httpx.get(f"{base}/", timeout=10).status_code == 404  # no playground with tokens
        server.terminate()
        out, err = server.communicate(timeout=30)
    assert b"R-TEST-1" not in out + err  # the access log holds no case data
    assert b"C-TEST-1" not in out + err
    access = [json.loads(line) for line in err.splitlines() if line.startswith(b"{")]
    assert [(a["route"], a["status"]) for a in access if a["route"] == "/v1/route"] == [
        ("/v1/route", 200),
        ("/v1/route", 401),
    ]
