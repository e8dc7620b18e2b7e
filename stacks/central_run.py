"""Central on Cloud Run v2: Direct VPC egress to the AI VM, the Cloud SQL socket, secrets as env."""

from __future__ import annotations

from dataclasses import dataclass

from cdktf_cdktf_provider_google.cloud_run_v2_service import (
    CloudRunV2Service,
    CloudRunV2ServiceTemplate,
    CloudRunV2ServiceTemplateContainers,
    CloudRunV2ServiceTemplateContainersEnv,
    CloudRunV2ServiceTemplateContainersEnvValueSource,
    CloudRunV2ServiceTemplateContainersEnvValueSourceSecretKeyRef,
    CloudRunV2ServiceTemplateContainersPorts,
    CloudRunV2ServiceTemplateContainersStartupProbe,
    CloudRunV2ServiceTemplateContainersStartupProbeHttpGet,
    CloudRunV2ServiceTemplateContainersVolumeMounts,
    CloudRunV2ServiceTemplateScaling,
    CloudRunV2ServiceTemplateVolumes,
    CloudRunV2ServiceTemplateVolumesCloudSqlInstance,
    CloudRunV2ServiceTemplateVpcAccess,
    CloudRunV2ServiceTemplateVpcAccessNetworkInterfaces,
)
from cdktf_cdktf_provider_google.cloud_run_v2_service_iam_member import (
    CloudRunV2ServiceIamMember,
)
from cdktf_cdktf_provider_google.compute_network import ComputeNetwork
from cdktf_cdktf_provider_google.compute_subnetwork import ComputeSubnetwork
from constructs import Construct

PORT = 8080  # Cloud Run sets PORT from the container port; it refuses PORT as a declared env var.


@dataclass(frozen=True)
class SecretEnv:
    """An environment variable read from a secret, pinned to one version."""

    name: str
    secret_id: str
    version: str


@dataclass(frozen=True)
class CentralRunConfig:
    project_id: str
    region: str
    name: str
    image: str
    service_account_email: str
    network: ComputeNetwork
    subnet: ComputeSubnetwork
    sql_connection_name: str
    secret_env: tuple[SecretEnv, ...]
    tray_archive: str  # where every tray's frames are kept as evidence (gs://bucket/prefix)
    create_tables: bool
    deletion_protection: bool
    depends_on: tuple[object, ...]
    max_instances: int = 3


@dataclass(frozen=True)
class CentralRunOutput:
    service: CloudRunV2Service
    url: str


def central_run(scope: Construct, config: CentralRunConfig) -> CentralRunOutput:
    env = [
        CloudRunV2ServiceTemplateContainersEnv(
            name=item.name,
            value_source=CloudRunV2ServiceTemplateContainersEnvValueSource(
                secret_key_ref=CloudRunV2ServiceTemplateContainersEnvValueSourceSecretKeyRef(
                    secret=item.secret_id, version=item.version
                )
            ),
        )
        for item in config.secret_env
    ]
    env.append(
        CloudRunV2ServiceTemplateContainersEnv(
            name="CREATE_TABLES", value="1" if config.create_tables else "0"
        )
    )
    # Frames kept as evidence for staff and disputes; the bucket's lifecycle is the retention.
    env.append(
        CloudRunV2ServiceTemplateContainersEnv(name="TRAY_ARCHIVE", value=config.tray_archive)
    )
    # Cloud Run does not set it; client libraries and trace correlation in logs need it.
    env.append(
        CloudRunV2ServiceTemplateContainersEnv(name="GOOGLE_CLOUD_PROJECT", value=config.project_id)
    )
    service = CloudRunV2Service(
        scope,
        "central",
        project=config.project_id,
        location=config.region,
        name=config.name,
        ingress="INGRESS_TRAFFIC_ALL",
        deletion_protection=config.deletion_protection,
        template=CloudRunV2ServiceTemplate(
            service_account=config.service_account_email,
            scaling=CloudRunV2ServiceTemplateScaling(
                min_instance_count=0, max_instance_count=config.max_instances
            ),
            # Private ranges (the AI VM) go through the VPC; Google APIs and the internet do not.
            vpc_access=CloudRunV2ServiceTemplateVpcAccess(
                egress="PRIVATE_RANGES_ONLY",
                network_interfaces=[
                    CloudRunV2ServiceTemplateVpcAccessNetworkInterfaces(
                        network=config.network.id, subnetwork=config.subnet.id
                    )
                ],
            ),
            volumes=[
                CloudRunV2ServiceTemplateVolumes(
                    name="cloudsql",
                    cloud_sql_instance=CloudRunV2ServiceTemplateVolumesCloudSqlInstance(
                        instances=[config.sql_connection_name]
                    ),
                )
            ],
            containers=[
                CloudRunV2ServiceTemplateContainers(
                    image=config.image,
                    ports=CloudRunV2ServiceTemplateContainersPorts(container_port=PORT),
                    env=env,
                    volume_mounts=[
                        CloudRunV2ServiceTemplateContainersVolumeMounts(
                            name="cloudsql", mount_path="/cloudsql"
                        )
                    ],
                    # /ready answers once the database is reachable; Direct VPC egress can take a
                    # minute to connect on a new instance, hence the generous threshold.
                    startup_probe=CloudRunV2ServiceTemplateContainersStartupProbe(
                        http_get=CloudRunV2ServiceTemplateContainersStartupProbeHttpGet(
                            path="/ready", port=PORT
                        ),
                        initial_delay_seconds=5,
                        period_seconds=5,
                        timeout_seconds=3,
                        failure_threshold=24,
                    ),
                )
            ],
        ),
        depends_on=list(config.depends_on),  # type: ignore[arg-type]
    )
    # Kiosks and staff tablets call Central directly; Central checks X-ADMIN-KEY itself.
    CloudRunV2ServiceIamMember(
        scope,
        "central-invoker-public",
        project=config.project_id,
        location=config.region,
        name=service.name,
        role="roles/run.invoker",
        member="allUsers",
    )
    return CentralRunOutput(service=service, url=service.uri)
