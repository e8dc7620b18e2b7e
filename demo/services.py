"""Start Central and the AI service as real processes on loopback, and stop them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Service:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    _log: IO[bytes] = field(repr=False)

    def wait_ready(self, key: str, timeout_s: float = 60) -> dict:
        """Poll /ready until it says ready; fail with the service's last log lines."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.process.returncode}): {self.tail()}")
            try:
                r = httpx.get(f"{self.url}/ready", headers={"X-ADMIN-KEY": key}, timeout=2)
                if r.status_code == 200:
                    return dict(r.json())
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout_s:.0f} s: {self.tail()}")

    def kill(self) -> None:
        """SIGKILL: the process dies mid-whatever, as a crashed VM would."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()

    def tail(self, lines: int = 15) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def _start(
    name: str, module: str, args: list[str], env: dict[str, str], port: int, logs: Path
) -> Service:
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{name}.log"
    log = log_path.open("wb")
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return Service(name, f"http://127.0.0.1:{port}", process, log_path, log)


def start_ai(ai_key: str, logs: Path, port: int | None = None, mock: bool = True) -> Service:
    port = port or free_port()
    env = {
        "AI_ADMIN_KEY": ai_key,
        "AI_MOCK_MODE": "1" if mock else "0",
        "AI_HOST": "127.0.0.1",
        "AI_PORT": str(port),
        "AI_DEVICE": "cpu",
        "AI_TORCH_THREADS": "1",  # Central, the counter and torch share this machine's cores
        # The gallery the demo's registrations build, in the run's own folder.
        "AI_GALLERY": str(logs / "gallery.pt"),
    }
    return _start("ai", "ai", ["serve"], env, port, logs)


def start_central(
    admin_key: str,
    ai_key: str,
    ai_url: str,
    database_url: str,
    logs: Path,
    staff_key: str | None = None,
) -> Service:
    port = free_port()
    env = {
        # The frames Central archives, in the run's own folder.
        "TRAY_ARCHIVE": str(logs / "trays"),
        **({"STAFF_KEY": staff_key} if staff_key else {}),
        "ADMIN_KEY": admin_key,
        "AI_ADMIN_KEY": ai_key,
        "AI_BASE_URL": ai_url,
        "DATABASE_URL": database_url,
        "CREATE_TABLES": "1",
        "PORT": str(port),
        "AI_TIMEOUT_SECONDS": "10",
    }
    return _start("central", "central", ["serve", "--host", "127.0.0.1"], env, port, logs)
