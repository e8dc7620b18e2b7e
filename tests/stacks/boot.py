"""A simulated GPU VM for the boot script: stub commands on PATH, a fake bucket, a temp root.

The stubs record every call in one log and answer like the real tools: `gcloud storage cp` copies
from a folder standing in for the bucket, `gcloud secrets` prints a key, `systemctl restart`
records which release the app link names at that moment, and a fake `python3.13` creates venvs
whose python answers `-m pip` (failing on demand), the import checks and torch's CUDA queries.
`systemd-run` runs a transient service at once (a timer is only recorded), `curl` hands out a fake
Ops Agent installer that "installs" the package for `dpkg -s` (failing on demand).
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path

from stacks.ai_vm import StartupPaths, render_startup

LOG_LINE = 'echo "$(basename "$0") $*" >> "$STUB_LOG"'

STUBS = {
    "gcloud": f"""
        {LOG_LINE}
        if [ "$1 $2" = "storage cp" ]; then
          src="${{3#gs://}}"; cp "$FAKE_GCS/$src" "$4" || exit 1; exit 0
        fi
        if [ "$1 $2 $3" = "secrets versions access" ]; then printf 'test-admin-key'; exit 0; fi
        exit 1
    """,
    "systemctl": f"""
        {LOG_LINE}
        if [ "$1 $2" = "restart ai-inference.service" ]; then
          echo "running $(basename "$(readlink -f "$APP_LINK")")" >> "$STUB_LOG"
          [ ! -f "$FAKE_ROOT/fail-restart" ] || exit 1
        fi
        exit 0
    """,
    "systemd-run": f"""
        {LOG_LINE}
        case " $* " in *" --on-active="*) exit 0 ;; esac
        while [ "${{1#--}}" != "$1" ]; do shift; done
        "$@" >> "$FAKE_ROOT/transient.log" 2>&1
        exit 0
    """,
    "curl": f"""
        {LOG_LINE}
        while [ "$1" != "-o" ]; do shift; done
        [ ! -f "$FAKE_ROOT/ops-agent-unreachable" ] || exit 7
        printf '%s\n' '#!/bin/bash' 'echo "ops-agent-installer $*" >> "$STUB_LOG"' \
          'touch "$FAKE_ROOT/ops-agent-installed"' > "$2"
    """,
    "dpkg": f"""
        {LOG_LINE}
        [ "$1 $2" = "-s google-cloud-ops-agent" ] && [ -f "$FAKE_ROOT/ops-agent-installed" ] \
          || exit 1
        echo "Status: install ok installed"
    """,
    "apt-get": f"{LOG_LINE}\nexit 0",
    "useradd": f"{LOG_LINE}\nexit 0",
    "usermod": f"{LOG_LINE}\nexit 0",
    "chown": f"{LOG_LINE}\nexit 0",
    "getent": "exit 1",
    "id": 'if [ "$1" = "-u" ]; then echo 0; exit 0; fi\nexit 1',
    "python3.13": f"""
        {LOG_LINE}
        case "$1" in
          --version) echo "Python 3.13.0"; exit 0 ;;
          -c)
            case "$2" in
              *version_info*) exit 0 ;;
              *torch.cuda.is_available*) cat "$FAKE_ROOT/cuda" 2>/dev/null || echo True; exit 0 ;;
              *torch.version.cuda*) echo 12.8; exit 0 ;;
              *"import ai.app"*) exit 0 ;;
            esac ;;
          -m)
            if [ "$2" = "venv" ]; then
              mkdir -p "$3/bin" && cp "$0" "$3/bin/python" && exit 0
            fi
            if [ "$2" = "pip" ]; then
              fails="$(cat "$FAKE_ROOT/pip-failures" 2>/dev/null || echo 0)"
              if [ "$fails" -gt 0 ]; then
                echo $((fails - 1)) > "$FAKE_ROOT/pip-failures"
                echo "pip: connection reset" >&2; exit 1
              fi
              exit 0
            fi ;;
        esac
        exit 0
    """,
}


@dataclass
class Vm:
    """One simulated VM: its disk lives under `root`, its bucket under `root/gcs`."""

    root: Path
    paths: StartupPaths

    @property
    def log(self) -> Path:
        return self.root / "calls.log"

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def upload(self, archive: Path, name: str) -> str:
        """Put an archive in the fake bucket; returns its gs:// URI."""
        target = self.root / "gcs" / "models" / "ai-inference" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(archive.read_bytes())
        return f"gs://models/ai-inference/{name}"

    def boot(self, archive_uri: str) -> subprocess.CompletedProcess[str]:
        """Run the rendered boot script once, as the VM would at start."""
        self.log.unlink(missing_ok=True)
        script = render_startup(
            self.paths,
            archive_uri=archive_uri,
            gallery_uri="gs://models/gallery/gallery.pt",
            project="bakesight-test",
            secret="BAKE_SIGHT_AI_ADMIN_KEY",
            secret_version="1",
        )
        return subprocess.run(
            ["bash", "-c", script], capture_output=True, text=True, env=self.env(), timeout=120
        )

    def env(self) -> dict[str, str]:
        return {
            "PATH": f"{self.root / 'bin'}:/usr/bin:/bin",
            "STUB_LOG": str(self.log),
            "FAKE_GCS": str(self.root / "gcs"),
            "FAKE_ROOT": str(self.root),
            "APP_LINK": self.paths.app_link,
            "HOME": str(self.root),
        }

    def fire(self, timer: str) -> None:
        """Run what a recorded `systemd-run --on-active=…` call would start when it fires."""
        self.log.unlink(missing_ok=True)
        command = [word for word in timer.split(" ")[1:] if not word.startswith("--")]
        with (self.root / "transient.log").open("a") as out:
            subprocess.run(command, stdout=out, stderr=out, env=self.env(), timeout=60, check=False)

    def agent_log(self) -> str:
        """What the Ops Agent's setup printed (journald, in its transient unit, on a real VM)."""
        path = self.root / "transient.log"
        return path.read_text() if path.exists() else ""

    def running(self) -> str | None:
        """The release the last `systemctl restart` started."""
        started = [c.split(" ", 1)[1] for c in self.calls() if c.startswith("running ")]
        return started[-1] if started else None

    def current(self) -> str | None:
        link = Path(self.paths.app_link)
        return os.path.basename(os.path.realpath(link)) if link.is_symlink() else None


def make_vm(root: Path) -> Vm:
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True)
    for name, body in STUBS.items():
        stub = bin_dir / name
        stub.write_text("#!/bin/bash\n" + textwrap.dedent(body).strip() + "\n")
        stub.chmod(0o755)
    (root / "etc").mkdir()
    paths = StartupPaths(
        app_link=str(root / "opt" / "ai-inference"),
        releases=str(root / "opt" / "ai-inference-releases"),
        env_file=str(root / "etc" / "ai-inference.env"),
        unit_dir=str(root / "etc"),
        attempts=3,
        retry_seconds=0,
        retry_later_seconds=900,
        ops_agent_dir=str(root / "etc" / "google-cloud-ops-agent"),
        ops_agent_helper=str(root / "usr" / "sbin" / "bakesight-ops-agent"),
        ops_agent_wanted=str(root / "etc" / "bakesight" / "ops-agent.yaml"),
    )
    (root / "opt").mkdir()
    return Vm(root=root, paths=paths)
