"""The GPU VM: one T4, no external IP, the AI service installed at boot from the models bucket.

It runs only during opening hours (an instance schedule starts and stops it, runbook §12), reads its
key from Secret Manager at every boot, and is reached over SSH through IAP only.
"""

from __future__ import annotations

from dataclasses import dataclass

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
from constructs import Construct

from stacks.config import OpeningHours

# Deep Learning VM: NVIDIA driver and CUDA come with the image (runbook §9.1).
IMAGE_PROJECT = "deeplearning-platform-release"
IMAGE_FAMILY = "common-cu128-ubuntu-2204-nvidia-570"
IMAGE = f"projects/{IMAGE_PROJECT}/global/images/family/{IMAGE_FAMILY}"
APP_DIR = "/opt/ai-inference"
ENV_FILE = "/etc/ai-inference.env"


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
    machine_type: str = "n1-standard-4"
    accelerator: str = "nvidia-tesla-t4"
    boot_disk_gb: int = 100


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
    scheduler_role = ProjectIamCustomRole(
        scope,
        "ai-schedule-role",
        project=config.project_id,
        role_id=config.scheduler_role_id,
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
        depends_on=[*config.depends_on, scheduler_grant],  # type: ignore[list-item]
    )
    return AiVmOutput(instance=instance, internal_ip=config.address.address)


_STARTUP_SCRIPT = """#!/bin/bash
# BakeSight AI: install from the stack's archive (when it changed) and start, at every boot.
set -euo pipefail
ARCHIVE_URI='@ARCHIVE_URI@'
GALLERY_URI='@GALLERY_URI@'
PROJECT='@PROJECT@'
SECRET='@SECRET@'
SECRET_VERSION='@SECRET_VERSION@'
APP_DIR='@APP_DIR@'
ENV_FILE='@ENV_FILE@'
MARKER="$APP_DIR/.installed-from"
log() { echo "bakesight-ai-startup: $*"; }

if [ "$(cat "$MARKER" 2>/dev/null || true)" != "$ARCHIVE_URI" ]; then
  log "installing $ARCHIVE_URI"
  work="$(mktemp -d)"
  gcloud storage cp "$ARCHIVE_URI" "$work/ai.tar.gz"
  mkdir -p "$work/app"
  tar -xzf "$work/ai.tar.gz" -C "$work/app"
  for needed in scripts/install_ai.sh systemd/ai-inference.service; do
    if [ ! -f "$work/app/$needed" ]; then log "archive has no $needed"; exit 1; fi
  done
  rm -rf "$APP_DIR"
  mv "$work/app" "$APP_DIR"
  (cd "$APP_DIR" && bash scripts/install_ai.sh)
  install -m 0644 "$APP_DIR/systemd/ai-inference.service" /etc/systemd/system/ai-inference.service
  echo "$ARCHIVE_URI" > "$MARKER"
  rm -rf "$work"
fi

# Fetched at every boot, at the version pinned in this script, so a rotated key reaches the VM
# on its next start without anyone copying it.
umask 077
key="$(gcloud secrets versions access "$SECRET_VERSION" --secret="$SECRET" --project="$PROJECT")"
printf 'AI_ADMIN_KEY=%s\\nAI_GALLERY=%s\\n' "$key" "$GALLERY_URI" > "$ENV_FILE.new"
mv "$ENV_FILE.new" "$ENV_FILE"
systemctl daemon-reload
systemctl enable ai-inference
systemctl restart ai-inference
log "ai-inference started"
"""


def startup_script(config: AiVmConfig) -> str:
    """The boot script; its values may be Terraform references, filled in at apply."""
    # Terraform interpolates `${` and `%{` in every string: the bash text must use neither.
    assert "${" not in _STARTUP_SCRIPT and "%{" not in _STARTUP_SCRIPT
    values = {
        "@ARCHIVE_URI@": config.archive_uri,
        "@GALLERY_URI@": config.gallery_uri,
        "@PROJECT@": config.project_id,
        "@SECRET@": config.admin_key_secret_id,
        "@SECRET_VERSION@": config.admin_key_secret_version,
        "@APP_DIR@": APP_DIR,
        "@ENV_FILE@": ENV_FILE,
    }
    script = _STARTUP_SCRIPT
    for placeholder, value in values.items():
        script = script.replace(placeholder, value)
    return script
