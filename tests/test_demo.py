"""`triage demo` runs the whole story: simulate, route, decide, log, verify, replay, report."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx

from tests.conftest import concerns, make_referral
from triage.audit import verify_log


def test_demo_runs_the_whole_story(tmp_path: Path) -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "triage.cli",
            "demo",
            "--n",
            "300",
            "--seed",
            "5",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "routed 300 referrals" in run.stdout
    assert "OK:" in run.stdout
    assert " 0 different" in run.stdout
    assert "REFERRALS BY REFERRING AGENCY" in run.stdout.upper()
    assert "planning what-if:" in run.stdout  # the log under Kent's Families First revision
    assert "routes (rows: before, columns: after)" in run.stdout
    assert (tmp_path / "planning.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    html = tmp_path / "report.html"
    assert html.exists()
    assert "<svg" in html.read_text(encoding="utf-8")
    assert (tmp_path / "pathway.svg").exists() or (tmp_path / "pathway.mmd").exists()
    report = verify_log(tmp_path / "decisions.sqlite")
    assert report.ok
    assert report.records > 300  # referrals, journey transitions and the rulebook snapshot
    _the_last_line_serves_the_playground_on_the_log(run.stdout, tmp_path)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _the_last_line_serves_the_playground_on_the_log(stdout: str, folder: Path) -> None:
    """The demo's last line is a shell command that, run as printed (on a free port rather than
    8000, which may be taken), serves the playground on the demo's log under its key."""
    command = stdout.rstrip("\n").splitlines()[-1]
    assert command.startswith("TRIAGE_LOG_KEY=")
    assert f"serve --log {(folder / 'decisions.sqlite').resolve()}" in command
    port = _free_port()
    environment = {k: v for k, v in os.environ.items() if k != "TRIAGE_LOG_KEY"}
    server = subprocess.Popen(
        f"{command} --port {port}",
        shell=True,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: stopped whole below
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read() if server.stderr else b""
                assert time.monotonic() < deadline, "the playground did not start in 60 s"
                time.sleep(0.3)
        assert page.status_code == 200
        assert "<form" in page.text
        # A route appends to the demo's log: refused under any key but the one it was begun with.
        referral = make_referral(concerns=concerns("domestic_abuse"))
        routed = httpx.post(f"http://127.0.0.1:{port}/v1/route", json=referral, timeout=30)
        assert routed.status_code == 200, routed.text
        verified = httpx.get(f"http://127.0.0.1:{port}/v1/log/verify", timeout=60)
        assert verified.json()["ok"] is True
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        if server.stderr is not None:
            server.stderr.close()
