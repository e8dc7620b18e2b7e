"""The GPU VM: one T4, no external IP, the AI service installed at boot from the models bucket.

It runs only during opening hours (an instance schedule starts and stops it, runbook §12), reads its
key from Secret Manager at every boot, and is reached over SSH through IAP only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from cdktf_cdktf_provider_google.compute_address import ComputeAddress
from cdktf_cdktf_provider_google.compute_instance import (
    ComputeInstance,
    ComputeInstanceBootDisk,
    ComputeInstanceBootDiskInitializeParams,
    ComputeInstanceGuestAccelerator,
    ComputeInstanceNetworkInterface,
    ComputeInstanceScheduling,
    ComputeInstanceServiceAccount,
    ComputeInstanceShieldedInstanceConfig,
)
from cdktf_cdktf_provider_google.compute_resource_policy import (
    ComputeResourcePolicy,
    ComputeResourcePolicyInstanceSchedulePolicy,
    ComputeResourcePolicyInstanceSchedulePolicyVmStartSchedule,
    ComputeResourcePolicyInstanceSchedulePolicyVmStopSchedule,
)
from cdktf_cdktf_provider_google.compute_subnetwork import ComputeSubnetwork
from cdktf_cdktf_provider_google.data_google_project import DataGoogleProject
from cdktf_cdktf_provider_google.project_iam_custom_role import ProjectIamCustomRole
from cdktf_cdktf_provider_google.project_iam_member import ProjectIamMember
from cdktf_cdktf_provider_random.id import Id as RandomId
from constructs import Construct

from stacks.config import ROLE_SUFFIX_CHARS, OpeningHours
from stacks.iam import propagation_wait

# The driver and the torch build are chosen together. The Deep Learning VM family below comes
# with NVIDIA driver 570, which runs CUDA up to 12.8. torch 2.13.0 from PyPI is a CUDA 13 build
# (it needs driver 580 or newer) and would see no GPU there, so the VM installs torch from
# PyTorch's cu128 index instead. Change both together: tests/stacks check they still agree.
IMAGE_PROJECT = "deeplearning-platform-release"
IMAGE_FAMILY = "common-cu128-ubuntu-2204-nvidia-570"
IMAGE = f"projects/{IMAGE_PROJECT}/global/images/family/{IMAGE_FAMILY}"
TORCH_INDEX_URL = "https://download.pytorch.org/whl/cu128"
STARTUP_TEMPLATE = Path(__file__).with_name("vm_startup.sh")
# What the VM's Ops Agent ships: the AI's journal lines as JSON entries, its /metrics.
OPS_AGENT_CONFIG = Path(__file__).with_name("ops_agent.yaml")
OPS_AGENT_CONFIG_END = "BAKESIGHT_OPS_AGENT_CONFIG"  # the here-document's delimiter in the template


@dataclass(frozen=True)
class StartupPaths:
    """Where the boot script installs and how it retries (tests point these at a temp dir)."""

    app_link: str = "/opt/ai-inference"  # what the systemd unit runs: a link to one release
    releases: str = "/opt/ai-inference-releases"
    env_file: str = "/etc/ai-inference.env"
    unit_dir: str = "/etc/systemd/system"
    attempts: int = 4
    retry_seconds: int = 30  # times the attempt number: 30 s, 60 s, 90 s between tries
    retry_later_seconds: int = 900
    ops_agent_dir: str = "/etc/google-cloud-ops-agent"  # the agent reads config.yaml there
    ops_agent_helper: str = "/usr/local/sbin/bakesight-ops-agent"  # installs and configures it
    ops_agent_wanted: str = "/etc/bakesight/ops-agent.yaml"  # stacks/ops_agent.yaml on the VM


@dataclass(frozen=True)
class AiVmConfig:
    project_id: str
    region: str
    zone: str
    name: str
    schedule_name: str
    scheduler_role_id: str
    subnet: ComputeSubnetwork
    address: ComputeAddress
    network_tag: str
    service_account_email: str
    archive_uri: str  # gs://bucket/object of the AI archive
    gallery_uri: str  # gs://bucket/object where the AI keeps its product gallery
    admin_key_secret_id: str
    admin_key_secret_version: str
    opening_hours: OpeningHours
    deletion_protection: bool
    depends_on: tuple[object, ...]
    machine_type: str
    accelerator: str
    boot_disk_gb: int
    paths: StartupPaths = field(default_factory=StartupPaths)


@dataclass(frozen=True)
class AiVmOutput:
    instance: ComputeInstance
    internal_ip: str


def ai_vm(scope: Construct, config: AiVmConfig) -> AiVmOutput:
    schedule = ComputeResourcePolicy(
        scope,
        "ai-schedule",
        project=config.project_id,
        region=config.region,
        name=config.schedule_name,
        description="Runs the GPU VM during opening hours only",
        instance_schedule_policy=ComputeResourcePolicyInstanceSchedulePolicy(
            time_zone=config.opening_hours.time_zone,
            vm_start_schedule=ComputeResourcePolicyInstanceSchedulePolicyVmStartSchedule(
                schedule=config.opening_hours.start_cron
            ),
            vm_stop_schedule=ComputeResourcePolicyInstanceSchedulePolicyVmStopSchedule(
                schedule=config.opening_hours.stop_cron
            ),
        ),
    )
    # Instance schedules act as the Compute Engine service agent, which must be able to start and
    # stop the VM before the schedule can even be attached to it. A custom role grants exactly
    # that, instead of the instanceAdmin role Google's guide suggests.
    project = DataGoogleProject(scope, "project", project_id=config.project_id)
    # A deleted custom role id stays reserved for 7 to 37 days: a suffix new to every deploy lets
    # the demo be destroyed and deployed again at once.
    role_suffix = RandomId(scope, "ai-schedule-role-suffix", byte_length=ROLE_SUFFIX_CHARS // 2)
    scheduler_role = ProjectIamCustomRole(
        scope,
        "ai-schedule-role",
        project=config.project_id,
        role_id=f"{config.scheduler_role_id}_{role_suffix.hex}",
        title="BakeSight instance scheduler",
        permissions=["compute.instances.start", "compute.instances.stop"],
    )
    scheduler_grant = ProjectIamMember(
        scope,
        "ai-schedule-agent",
        project=config.project_id,
        role=scheduler_role.name,
        member=f"serviceAccount:service-{project.number}@compute-system.iam.gserviceaccount.com",
    )
    # Attaching the schedule right after the grant fails with 412 until the grant propagates.
    scheduler_ready = propagation_wait(scope, "ai-schedule-agent-propagation", [scheduler_grant])

    instance = ComputeInstance(
        scope,
        "ai-vm",
        project=config.project_id,
        zone=config.zone,
        name=config.name,
        machine_type=config.machine_type,
        guest_accelerator=[ComputeInstanceGuestAccelerator(type=config.accelerator, count=1)],
        # GPUs cannot live-migrate: the VM stops for host maintenance and comes back by itself.
        scheduling=ComputeInstanceScheduling(
            on_host_maintenance="TERMINATE", automatic_restart=True
        ),
        boot_disk=ComputeInstanceBootDisk(
            initialize_params=ComputeInstanceBootDiskInitializeParams(
                image=IMAGE, size=config.boot_disk_gb, type="pd-balanced"
            )
        ),
        # No access_config: no external IP. Egress goes through Cloud NAT, SSH through IAP.
        network_interface=[
            ComputeInstanceNetworkInterface(
                subnetwork=config.subnet.id, network_ip=config.address.address
            )
        ],
        tags=[config.network_tag],
        service_account=ComputeInstanceServiceAccount(
            email=config.service_account_email, scopes=["cloud-platform"]
        ),
        # Secure Boot stays off: the NVIDIA kernel modules the image builds are not signed for it.
        shielded_instance_config=ComputeInstanceShieldedInstanceConfig(
            enable_secure_boot=False, enable_vtpm=True, enable_integrity_monitoring=True
        ),
        metadata={
            "enable-oslogin": "TRUE",
            "block-project-ssh-keys": "TRUE",
            "serial-port-enable": "FALSE",
            "install-nvidia-driver": "True",
            "startup-script": startup_script(config),
        },
        resource_policies=[schedule.id],
        allow_stopping_for_update=True,
        deletion_protection=config.deletion_protection,
        depends_on=[*config.depends_on, scheduler_grant, scheduler_ready],  # type: ignore[list-item]
    )
    return AiVmOutput(instance=instance, internal_ip=config.address.address)


def startup_script(config: AiVmConfig) -> str:
    """The boot script (stacks/vm_startup.sh); its values may be Terraform references."""
    return render_startup(
        config.paths,
        archive_uri=config.archive_uri,
        gallery_uri=config.gallery_uri,
        project=config.project_id,
        secret=config.admin_key_secret_id,
        secret_version=config.admin_key_secret_version,
    )


def render_startup(
    paths: StartupPaths,
    *,
    archive_uri: str,
    gallery_uri: str,
    project: str,
    secret: str,
    secret_version: str,
) -> str:
    """Fill in the template; values and paths are quoted by the template (single quotes)."""
    template = STARTUP_TEMPLATE.read_text()
    # Terraform interpolates `${` and `%{` in every string: the bash text must use neither.
    assert "${" not in template and "%{" not in template
    values = {
        "ARCHIVE_URI": archive_uri,
        "GALLERY_URI": gallery_uri,
        "PROJECT": project,
        "SECRET": secret,
        "SECRET_VERSION": secret_version,
        "APP_LINK": paths.app_link,
        "RELEASES": paths.releases,
        "ENV_FILE": paths.env_file,
        "UNIT_DIR": paths.unit_dir,
        "TORCH_INDEX_URL": TORCH_INDEX_URL,
        "ATTEMPTS": str(paths.attempts),
        "RETRY_SECONDS": str(paths.retry_seconds),
        "RETRY_LATER_SECONDS": str(paths.retry_later_seconds),
        "OPS_AGENT_DIR": paths.ops_agent_dir,
        "OPS_AGENT_HELPER": paths.ops_agent_helper,
        "OPS_AGENT_WANTED": paths.ops_agent_wanted,
    }
    script = template
    for name, value in values.items():
        assert "'" not in value, f"{name} would break the script's quoting: {value!r}"
        script = script.replace(f"@{name}@", value)
    # The agent's YAML goes in verbatim, inside a quoted here-document.
    agent_config = OPS_AGENT_CONFIG.read_text().rstrip("\n")
    assert "${" not in agent_config and "%{" not in agent_config
    assert OPS_AGENT_CONFIG_END not in agent_config
    script = script.replace("@OPS_AGENT_CONFIG@", agent_config)
    left = re.findall(r"@[A-Z_]+@", script)
    assert not left, f"placeholders left unfilled: {left}"
    return script
