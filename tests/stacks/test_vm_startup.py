"""The GPU VM's boot script, run through simulated boots (tests/stacks/boot.py).

What the VM must never do: serve nothing because one install failed, run a half-installed release,
or reinstall (minutes of pip through NAT) on every boot.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
import yaml

from stacks.ai_vm import OPS_AGENT_CONFIG
from stacks.archive import build_archive
from stacks.stack import AI_SOURCES
from tests.stacks.boot import Vm, make_vm

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The real AI archive, and the same with one file changed (a new release)."""
    out = tmp_path_factory.mktemp("archives")
    first = build_archive(ROOT, AI_SOURCES, out / "first.tar.gz").path
    second = out / "second.tar.gz"
    with tarfile.open(first) as src, tarfile.open(second, "w:gz") as dst:
        for member in src.getmembers():
            dst.addfile(member, src.extractfile(member))
        extra = tarfile.TarInfo("ai/RELEASE_NOTE")
        extra.size = 3
        dst.addfile(extra, io.BytesIO(b"v2\n"))
    return first, second


@pytest.fixture()
def vm(tmp_path: Path) -> Vm:
    return make_vm(tmp_path)


def installs(vm: Vm) -> list[str]:
    return [c for c in vm.calls() if c.startswith("python -m pip install") and "torch==" in c]


def install_retries(vm: Vm) -> list[str]:
    return [c for c in vm.calls() if c.startswith("systemd-run --unit=bakesight-ai-install-retry")]


def test_first_boot_installs_the_archive_and_starts_it_on_cuda(vm: Vm, archives) -> None:
    uri = vm.upload(archives[0], "ai-inference-aaaa.tar.gz")

    result = vm.boot(uri)

    assert result.returncode == 0, result.stdout + result.stderr
    assert vm.current() == "ai-inference-aaaa" == vm.running()
    release = Path(vm.paths.releases) / "ai-inference-aaaa"
    assert (release / ".installed").is_file() and (release / "ai" / "smoke.py").is_file()
    # torch from the index whose CUDA the image's driver runs, then the service with nox.
    [torch_install] = installs(vm)
    assert "--index-url https://download.pytorch.org/whl/cu128" in torch_install
    assert any(c.endswith("[ai,smoke]") for c in vm.calls())
    env = Path(vm.paths.env_file).read_text().splitlines()
    assert env == [
        "AI_ADMIN_KEY=test-admin-key",
        "AI_GALLERY=gs://models/gallery/gallery.pt",
        "AI_DEVICE=cuda",
        "AI_GOOGLE_CLOUD_PROJECT=bakesight-test",
    ]
    assert oct(Path(vm.paths.env_file).stat().st_mode & 0o777) == "0o600"
    assert (Path(vm.paths.unit_dir) / "ai-inference.service").is_file()
    assert "systemctl enable ai-inference.service" in vm.calls()


def test_an_unchanged_archive_is_not_reinstalled(vm: Vm, archives) -> None:
    uri = vm.upload(archives[0], "ai-inference-aaaa.tar.gz")
    assert vm.boot(uri).returncode == 0

    result = vm.boot(uri)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "is installed; starting it" in result.stdout
    assert installs(vm) == [] and not [c for c in vm.calls() if "storage cp" in c]
    assert vm.running() == "ai-inference-aaaa"


def test_a_changed_archive_installs_beside_the_running_one_and_swaps(vm: Vm, archives) -> None:
    old = vm.upload(archives[0], "ai-inference-aaaa.tar.gz")
    new = vm.upload(archives[1], "ai-inference-bbbb.tar.gz")
    assert vm.boot(old).returncode == 0

    result = vm.boot(new)

    assert result.returncode == 0, result.stdout + result.stderr
    started = [c for c in vm.calls() if c.startswith("running ")]
    # The old release serves while the new one installs; then the new one runs.
    assert started == ["running ai-inference-aaaa", "running ai-inference-bbbb"]
    assert vm.current() == "ai-inference-bbbb"
    assert (Path(vm.paths.app_link) / "ai" / "RELEASE_NOTE").read_text() == "v2\n"
    # The previous release stays on disk to go back to by hand.
    assert (Path(vm.paths.releases) / "ai-inference-aaaa" / ".installed").is_file()


def test_a_failing_install_keeps_the_old_release_running_and_retries_later(
    vm: Vm, archives
) -> None:
    old = vm.upload(archives[0], "ai-inference-aaaa.tar.gz")
    new = vm.upload(archives[1], "ai-inference-bbbb.tar.gz")
    assert vm.boot(old).returncode == 0
    (vm.root / "pip-failures").write_text("99")

    result = vm.boot(new)

    assert result.returncode == 1
    assert len(installs(vm)) == 0  # pip fails before torch, on every attempt
    assert result.stdout.count("install attempt") == 3
    assert vm.current() == "ai-inference-aaaa" == vm.running()
    assert not (Path(vm.paths.releases) / "ai-inference-bbbb").exists()
    assert "keeps running ai-inference-aaaa" in result.stdout
    [retry] = install_retries(vm)
    assert "--on-active=900" in retry and "google_metadata_script_runner startup" in retry


def test_a_pip_hiccup_is_retried_within_the_boot(vm: Vm, archives) -> None:
    uri = vm.upload(archives[0], "ai-inference-aaaa.tar.gz")
    (vm.root / "pip-failures").write_text("1")

    result = vm.boot(uri)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "install attempt 1 failed" in result.stdout
    assert vm.current() == "ai-inference-aaaa" == vm.running()
    assert not install_retries(vm)


def test_a_first_boot_that_cannot_install_starts_nothing_half_done(vm: Vm, archives) -> None:
    uri = vm.upload(archives[0], "ai-inference-aaaa.tar.gz")
    (vm.root / "pip-failures").write_text("99")

    result = vm.boot(uri)

    assert result.returncode == 1
    assert vm.current() is None and vm.running() is None
    assert "no earlier release exists" in result.stdout
    assert install_retries(vm)


def test_a_torch_that_cannot_see_the_gpu_is_never_swapped_in(vm: Vm, archives) -> None:
    old = vm.upload(archives[0], "ai-inference-aaaa.tar.gz")
    new = vm.upload(archives[1], "ai-inference-bbbb.tar.gz")
    assert vm.boot(old).returncode == 0
    # Now the VM has a driver, and the new release's torch cannot use it.
    nvidia_smi = vm.root / "bin" / "nvidia-smi"
    nvidia_smi.write_text("#!/bin/bash\necho 570.172.08\n")
    nvidia_smi.chmod(0o755)
    (vm.root / "cuda").write_text("False\n")

    result = vm.boot(new)

    assert result.returncode == 1
    assert "cannot see the GPU (driver 570.172.08)" in result.stderr
    assert vm.current() == "ai-inference-aaaa" == vm.running()


def test_a_release_that_does_not_start_is_rolled_back(vm: Vm, archives) -> None:
    old = vm.upload(archives[0], "ai-inference-aaaa.tar.gz")
    new = vm.upload(archives[1], "ai-inference-bbbb.tar.gz")
    assert vm.boot(old).returncode == 0
    vm_fail = vm.root / "fail-restart"

    # systemd refuses the new release's start once; the old one must come back.
    (vm.root / "bin" / "systemctl").write_text(
        "#!/bin/bash\n"
        'echo "$(basename "$0") $*" >> "$STUB_LOG"\n'
        'if [ "$1" = "restart" ]; then\n'
        '  now="$(basename "$(readlink -f "$APP_LINK")")"\n'
        '  echo "running $now" >> "$STUB_LOG"\n'
        '  [ "$now" != ai-inference-bbbb ] || exit 1\n'
        "fi\n"
    )
    result = vm.boot(new)

    assert result.returncode == 1
    assert "does not start" in result.stdout and not vm_fail.exists()
    assert vm.current() == "ai-inference-aaaa" == vm.running()


def test_the_boot_script_is_the_one_the_vm_gets(vm: Vm) -> None:
    from stacks.ai_vm import STARTUP_TEMPLATE

    text = STARTUP_TEMPLATE.read_text()
    assert "${" not in text and "%{" not in text  # Terraform would interpolate them
    assert text.startswith("#!/bin/bash\n")


# The Ops Agent: set up beside the service, never in its way.


def agent_config(vm: Vm) -> Path:
    return Path(vm.paths.ops_agent_dir) / "config.yaml"


def agent_restarts(vm: Vm) -> list[str]:
    return [c for c in vm.calls() if c == "systemctl restart google-cloud-ops-agent"]


def agent_retries(vm: Vm) -> list[str]:
    return [c for c in vm.calls() if c.startswith("systemd-run --unit=bakesight-ops-agent-retry")]


def test_first_boot_installs_the_ops_agent_with_the_stacks_config(vm: Vm, archives) -> None:
    uri = vm.upload(archives[0], "ai-inference-aaaa.tar.gz")

    result = vm.boot(uri)

    assert result.returncode == 0, result.stdout + result.stderr
    assert vm.running() == "ai-inference-aaaa"
    # In a transient unit of its own, so the download never holds up the service's start.
    [setup] = [c for c in vm.calls() if c.startswith("systemd-run --unit=bakesight-ops-agent-1")]
    assert "--no-block" in setup
    # Google's repository script, major version 2 only, then the stack's config and a restart.
    assert "ops-agent-installer --also-install --version=2.*.*" in vm.calls()
    assert yaml.safe_load(agent_config(vm).read_text()) == yaml.safe_load(
        OPS_AGENT_CONFIG.read_text()
    )
    assert len(agent_restarts(vm)) == 1
    assert "ships ai-inference's log lines and metrics" in vm.agent_log()


def test_a_second_boot_leaves_a_configured_agent_alone(vm: Vm, archives) -> None:
    uri = vm.upload(archives[0], "ai-inference-aaaa.tar.gz")
    assert vm.boot(uri).returncode == 0

    result = vm.boot(uri)

    assert result.returncode == 0, result.stdout + result.stderr
    assert not [c for c in vm.calls() if c.startswith("curl")]
    assert agent_restarts(vm) == [] and agent_retries(vm) == []
    assert "already has BakeSight's configuration" in vm.agent_log()


def test_a_changed_agent_config_is_applied_at_the_next_boot(vm: Vm, archives) -> None:
    uri = vm.upload(archives[0], "ai-inference-aaaa.tar.gz")
    assert vm.boot(uri).returncode == 0
    agent_config(vm).write_text("logging: {}\n")  # what an earlier deploy gave it

    assert vm.boot(uri).returncode == 0

    assert not [c for c in vm.calls() if c.startswith("curl")]
    assert agent_config(vm).read_text().startswith("# The Google Cloud Ops Agent")
    assert len(agent_restarts(vm)) == 1


def test_an_agent_that_cannot_install_leaves_the_ai_serving_and_is_retried(
    vm: Vm, archives
) -> None:
    uri = vm.upload(archives[0], "ai-inference-aaaa.tar.gz")
    (vm.root / "ops-agent-unreachable").touch()

    result = vm.boot(uri)

    assert result.returncode == 0, result.stdout + result.stderr
    assert vm.current() == "ai-inference-aaaa" == vm.running()
    assert not agent_config(vm).exists() and agent_restarts(vm) == []
    assert "logs stay in journald for now" in vm.agent_log()
    assert install_retries(vm) == []  # the service's install is not retried for it
    [retry] = agent_retries(vm)
    assert "--on-active=900" in retry and vm.paths.ops_agent_helper in retry

    # The network is back when the timer fires: the agent installs and gets its config.
    (vm.root / "ops-agent-unreachable").unlink()
    vm.fire(retry)

    assert "ops-agent-installer --also-install --version=2.*.*" in vm.calls()
    assert agent_config(vm).is_file() and len(agent_restarts(vm)) == 1
    assert not [c for c in vm.calls() if c.startswith("systemctl restart ai-inference")]
