"""The BakeSight Seoul stack: builds each part from its config and wires outputs into configs."""

from __future__ import annotations

from pathlib import Path

from cdktf import (
    Aspects,
    AssetType,
    GcsBackend,
    TerraformAsset,
    TerraformOutput,
    TerraformStack,
)
from cdktf_cdktf_provider_google.provider import GoogleProvider
from cdktf_cdktf_provider_google.storage_bucket_object import StorageBucketObject
from cdktf_cdktf_provider_random.password import Password
from cdktf_cdktf_provider_random.provider import RandomProvider
from constructs import Construct

from stacks.ai_vm import AiVmConfig, ai_vm
from stacks.archive import build_archive
from stacks.buckets import BucketConfig, BucketsConfig, buckets
from stacks.central_image import CentralImageConfig, central_image, central_sources
from stacks.central_run import CentralRunConfig, SecretEnv, central_run
from stacks.config import StackConfig
from stacks.iam import propagation_wait
from stacks.network import NetworkConfig, network
from stacks.project_services import DependOnServices, ProjectServicesConfig, project_services
from stacks.registry import RegistryConfig, registry
from stacks.secrets import SecretConfig, SecretsConfig, secrets
from stacks.service_accounts import (
    ProjectRole,
    ServiceAccountConfig,
    ServiceAccountsConfig,
    service_accounts,
)
from stacks.sql import SqlConfig, sql

# What the GPU VM installs from: the AI package (with the smoke test's samples), the contract, its
# installer and unit, the project metadata its installer reads (pyproject's readme is README.md),
# and noxfile.py for `nox -s gpu_smoke` there. tests/stacks/test_shipped_files.py proves the list
# holds everything install_ai.sh, the unit and gpu_smoke use.
AI_SOURCES = (
    "ai",
    "contract",
    "servicekit",
    "scripts",
    "systemd",
    "pyproject.toml",
    "README.md",
    "noxfile.py",
)
AI_REQUIRED = (
    "scripts/install_ai.sh",
    "systemd/ai-inference.service",
    "noxfile.py",
    "ai/smoke_samples/manifest.json",
)

STATE_PREFIX = "bakesight"  # objects: <prefix>/default.tfstate in the state bucket
ADMIN_KEY = "BAKE_SIGHT_ADMIN_KEY"
AI_ADMIN_KEY = "BAKE_SIGHT_AI_ADMIN_KEY"
STAFF_KEY = "BAKE_SIGHT_STAFF_KEY"
GALLERY_PREFIX = "gallery/"
DATABASE_URL = "BAKE_SIGHT_DATABASE_URL"
AI_BASE_URL = "BAKE_SIGHT_AI_BASE_URL"


class BakeSightStack(TerraformStack):
    def __init__(
        self, scope: Construct, id_: str, config: StackConfig, repo_root: Path, work_dir: Path
    ) -> None:
        super().__init__(scope, id_)
        self.warnings: list[str] = []
        names = config.names
        project, region = config.project_id, config.region

        # State lives in a versioned bucket of the project (`nox -s deploy` creates it before the
        # first apply), so a destroy from any clone sees what was deployed.
        GcsBackend(self, bucket=names.bucket_state, prefix=STATE_PREFIX)
        GoogleProvider(self, "google", project=project, region=region, zone=config.zone)
        RandomProvider(self, "random")
        apis = project_services(self, ProjectServicesConfig(project_id=project))

        accounts = service_accounts(
            self,
            ServiceAccountsConfig(
                project_id=project,
                accounts=(
                    ServiceAccountConfig(
                        key="central",
                        account_id=names.central_account,
                        display_name="BakeSight Central (Cloud Run)",
                        project_roles=(
                            # Cloud SQL has no per-instance IAM; a condition narrows the grant.
                            ProjectRole(
                                "roles/cloudsql.client",
                                condition=(
                                    "resource.type == 'sqladmin.googleapis.com/Instance' && "
                                    f"resource.name == 'projects/{project}/instances/"
                                    f"{names.sql_instance}'"
                                ),
                                condition_title="only-the-bakesight-instance",
                            ),
                        ),
                    ),
                    ServiceAccountConfig(
                        key="ai",
                        account_id=names.ai_account,
                        display_name="BakeSight AI inference VM",
                        # The guest agents ship logs and metrics; neither role can be narrower.
                        project_roles=(
                            ProjectRole("roles/logging.logWriter"),
                            ProjectRole("roles/monitoring.metricWriter"),
                        ),
                    ),
                    ServiceAccountConfig(
                        key="builder",
                        account_id=names.builder_account,
                        display_name="BakeSight Cloud Build (Central image)",
                        project_roles=(ProjectRole("roles/logging.logWriter"),),
                    ),
                ),
            ),
        )
        central_sa, ai_sa = accounts.accounts["central"], accounts.accounts["ai"]
        members = accounts.members

        net = network(
            self,
            NetworkConfig(
                project_id=project,
                region=region,
                network_name=names.network,
                vm_subnet_name=names.vm_subnet,
                vm_subnet_range=config.vm_subnet_range,
                run_subnet_name=names.run_subnet,
                run_subnet_range=config.run_subnet_range,
                router_name=names.router,
                nat_name=names.nat,
                firewall_ai_name=names.firewall_ai,
                firewall_iap_ssh_name=names.firewall_iap_ssh,
                ai_address_name=names.ai_address,
                ai_port=config.ai_port,
            ),
        )

        storage = buckets(
            self,
            BucketsConfig(
                project_id=project,
                region=region,
                buckets=(
                    BucketConfig(
                        "tray",
                        names.bucket_tray,
                        delete_after_days=14,
                        object_admins=(members["central"],),
                    ),
                    BucketConfig(
                        "cctv",
                        names.bucket_cctv,
                        delete_after_days=14,
                        object_admins=(members["central"],),
                    ),
                    BucketConfig(
                        "models",
                        names.bucket_models,
                        object_viewers=(members["ai"],),
                        # The AI saves its product gallery there as staff register and correct.
                        prefix_writers=((GALLERY_PREFIX, members["ai"]),),
                    ),
                    BucketConfig(
                        "builds",
                        names.bucket_builds,
                        delete_after_days=14,
                        object_viewers=(members["builder"],),
                    ),
                ),
            ),
        )

        # The AI service, packed at synth from the repository and installed by the VM at boot.
        ai_archive = build_archive(repo_root, AI_SOURCES, work_dir / "ai-inference.tar.gz")
        absent = [f for f in AI_REQUIRED if f not in ai_archive.members]
        if absent:
            self.warnings.append(
                f"the AI archive has no {', '.join(absent)}: the VM cannot install the AI service"
            )
        ai_asset = TerraformAsset(
            self, "ai-archive", path=str(ai_archive.path), type=AssetType.FILE
        )
        ai_object = StorageBucketObject(
            self,
            "ai-archive-object",
            bucket=storage.buckets["models"].name,
            name=f"ai-inference/ai-inference-{ai_archive.short_hash}.tar.gz",
            source=ai_asset.path,
        )

        database = sql(
            self,
            SqlConfig(
                project_id=project,
                region=region,
                instance_name=names.sql_instance,
                database_name=names.database,
                user_name=names.database_user,
                deletion_protection=config.deletion_protection,
                tier=config.sql_tier,
                disk_gb=config.sql_disk_gb,
            ),
        )

        # Generated keys: only references to them appear in the synthesized JSON.
        admin_key = Password(self, "admin-key", length=40, special=False)
        ai_admin_key = Password(self, "ai-admin-key", length=40, special=False)
        staff_key = Password(self, "staff-key", length=40, special=False)
        database_url = (
            f"mysql+pymysql://{names.database_user}:{database.password.result}"
            f"@/{names.database}?unix_socket=/cloudsql/{database.connection_name}"
            "&charset=utf8mb4"
        )
        secret_store = secrets(
            self,
            SecretsConfig(
                project_id=project,
                region=region,
                secrets=(
                    SecretConfig(ADMIN_KEY, admin_key.result, (members["central"],)),
                    SecretConfig(STAFF_KEY, staff_key.result, (members["central"],)),
                    SecretConfig(
                        AI_ADMIN_KEY, ai_admin_key.result, (members["central"], members["ai"])
                    ),
                    SecretConfig(DATABASE_URL, database_url, (members["central"],)),
                    SecretConfig(
                        AI_BASE_URL,
                        f"http://{net.ai_address.address}:{config.ai_port}",
                        (members["central"],),
                    ),
                ),
            ),
        )
        ai_secret = secret_store.secrets[AI_ADMIN_KEY]

        vm = ai_vm(
            self,
            AiVmConfig(
                project_id=project,
                region=region,
                zone=config.zone,
                name=names.ai_vm,
                schedule_name=names.ai_schedule,
                scheduler_role_id=names.scheduler_role,
                subnet=net.vm_subnet,
                address=net.ai_address,
                network_tag=net.ai_target_tag,
                service_account_email=ai_sa.email,
                archive_uri=f"gs://{storage.buckets['models'].name}/{ai_object.name}",
                gallery_uri=f"gs://{names.bucket_models}/{GALLERY_PREFIX}gallery.pt",
                admin_key_secret_id=ai_secret.secret.secret_id,
                admin_key_secret_version=ai_secret.version_number,
                opening_hours=config.opening_hours,
                deletion_protection=config.deletion_protection,
                machine_type=config.machine_type,
                accelerator=config.accelerator,
                boot_disk_gb=config.boot_disk_gb,
                # What the boot script needs must exist before the first boot: the archive and
                # the right to read it, the key and the right to read it, NAT for downloads.
                depends_on=(
                    ai_object,
                    *storage.grants["models"],
                    *ai_secret.accessor_bindings,
                    net.nat,
                ),
            ),
        )

        repo = registry(
            self,
            RegistryConfig(
                project_id=project,
                region=region,
                repository_id=names.repository,
                writers=(members["builder"],),
            ),
        )
        image_dependencies: tuple[object, ...] = ()
        if config.builds_central:
            central_source = build_archive(
                repo_root, central_sources(repo_root), work_dir / "central-source.tar.gz"
            )
            if "central/Dockerfile" not in central_source.members:
                self.warnings.append(
                    "there is no central/Dockerfile: the Central image build will fail "
                    "(or set central_image)"
                )
            built = central_image(
                self,
                CentralImageConfig(
                    project_id=project,
                    build_region=config.build_region,
                    repository_url=repo.url,
                    source=central_source,
                    builds_bucket=storage.buckets["builds"],
                    builder_email=accounts.accounts["builder"].email,
                    # The push needs the writer grant in effect, not only created.
                    depends_on=(
                        repo.repository,
                        propagation_wait(
                            self,
                            "builder-grants-propagation",
                            [
                                *repo.writer_bindings,
                                *storage.grants["builds"],
                                *accounts.project_grants["builder"],
                            ],
                        ),
                    ),
                ),
            )
            image, image_dependencies = built.image, (built.build,)
        else:
            image = config.central_image

        central_env = {
            "ADMIN_KEY": ADMIN_KEY,
            "AI_ADMIN_KEY": AI_ADMIN_KEY,
            "STAFF_KEY": STAFF_KEY,
            "DATABASE_URL": DATABASE_URL,
            "AI_BASE_URL": AI_BASE_URL,
        }
        central = central_run(
            self,
            CentralRunConfig(
                project_id=project,
                region=region,
                name=names.central_service,
                image=image,
                service_account_email=central_sa.email,
                network=net.network,
                subnet=net.run_subnet,
                sql_connection_name=database.connection_name,
                secret_env=tuple(
                    SecretEnv(
                        name=env_name,
                        secret_id=secret_store.secrets[secret_id].secret.secret_id,
                        version=secret_store.secrets[secret_id].version_number,
                    )
                    for env_name, secret_id in central_env.items()
                ),
                tray_archive=f"gs://{names.bucket_tray}/trays",
                create_tables=config.create_tables,
                deletion_protection=config.deletion_protection,
                # A revision that cannot read its secrets, pull its image or reach the database
                # never becomes ready; with CREATE_TABLES=1 its first start needs the database
                # and the user to exist.
                depends_on=(
                    *image_dependencies,
                    database.database,
                    database.user,
                    *accounts.project_grants["central"],
                    *(
                        binding
                        for secret in secret_store.secrets.values()
                        for binding in secret.accessor_bindings
                    ),
                ),
            ),
        )

        TerraformOutput(self, "central_url", value=central.url)
        TerraformOutput(self, "central_image", value=image)
        TerraformOutput(self, "ai_internal_ip", value=vm.internal_ip)
        TerraformOutput(self, "sql_connection_name", value=database.connection_name)
        for key, bucket in storage.buckets.items():
            TerraformOutput(self, f"bucket_{key}", value=bucket.name)

        Aspects.of(self).add(DependOnServices(apis))
