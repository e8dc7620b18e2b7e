"""Central's image, built by Cloud Build from a source archive the stack uploads (no local Docker).

The archive is built at synth from the repository files Central's Dockerfile uses; its hash is the
image tag, so an unchanged source is never rebuilt and a changed one is a new Cloud Run revision.
The build is a `terraform_data` resource running `gcloud builds submit` once per tag: the
repository it pushes to is created by this same stack, so the build cannot happen before apply.

The build runs in `build_region` (a region every new project may build in; stacks/zones.py) and
stages its source in the stack's own builds bucket: without `--gcs-source-staging-dir`, gcloud
creates a `<project>_cloudbuild` bucket in the US that the builder account cannot read and that
`destroy` never removes.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from cdktf import (
    AssetType,
    LocalExecProvisioner,
    TerraformAsset,
    TerraformProviderGeneratorMetadata,
    TerraformResource,
)
from cdktf_cdktf_provider_google.storage_bucket import StorageBucket
from cdktf_cdktf_provider_google.storage_bucket_object import StorageBucketObject
from constructs import Construct

from stacks.archive import Archive
from stacks.dockerfile import copy_sources

CLOUDBUILD_CONFIG = Path(__file__).with_name("central.cloudbuild.yaml")
CENTRAL_DOCKERFILE = "central/Dockerfile"
STAGING_PREFIX = "staging"


def central_sources(repo_root: Path) -> tuple[str, ...]:
    """The build context: what central/Dockerfile copies, the Dockerfile and the .dockerignore.

    Derived from the Dockerfile itself, so the archive (and the image tag, its hash) follows it.
    """
    dockerfile = repo_root / CENTRAL_DOCKERFILE
    copied = copy_sources(dockerfile.read_text()) if dockerfile.is_file() else ()
    return (*copied, CENTRAL_DOCKERFILE, ".dockerignore")


@dataclass(frozen=True)
class CentralImageConfig:
    project_id: str
    build_region: str
    repository_url: str
    source: Archive
    builds_bucket: StorageBucket
    builder_email: str
    depends_on: tuple[object, ...]


@dataclass(frozen=True)
class CentralImageOutput:
    image: str
    build: TerraformResource


def central_image(scope: Construct, config: CentralImageConfig) -> CentralImageOutput:
    image = f"{config.repository_url}/central:{config.source.short_hash}"
    source_asset = TerraformAsset(
        scope, "central-source", path=str(config.source.path), type=AssetType.FILE
    )
    source_object = StorageBucketObject(
        scope,
        "central-source-object",
        bucket=config.builds_bucket.name,
        name=f"central/central-{config.source.short_hash}.tar.gz",
        source=source_asset.path,
    )
    cloudbuild_asset = TerraformAsset(
        scope, "central-cloudbuild", path=str(CLOUDBUILD_CONFIG), type=AssetType.FILE
    )
    command = " ".join(
        [
            "gcloud builds submit",
            f"gs://{config.builds_bucket.name}/{source_object.name}",
            f"--project={shlex.quote(config.project_id)}",
            f"--region={shlex.quote(config.build_region)}",
            f"--config={cloudbuild_asset.path}",
            f"--gcs-source-staging-dir=gs://{config.builds_bucket.name}/{STAGING_PREFIX}",
            f"--substitutions=_IMAGE={image}",
            f"--service-account=projects/{config.project_id}/serviceAccounts/"
            f"{config.builder_email}",
        ]
    )
    build = TerraformResource(
        scope,
        "central-image-build",
        terraform_resource_type="terraform_data",
        terraform_generator_metadata=TerraformProviderGeneratorMetadata(provider_name="terraform"),
        depends_on=[source_object, *config.depends_on],  # type: ignore[list-item]
        provisioners=[LocalExecProvisioner(type="local-exec", command=command)],
    )
    # A new tag replaces the resource, which runs the build again.
    build.add_override("triggers_replace", [image])
    return CentralImageOutput(image=image, build=build)
