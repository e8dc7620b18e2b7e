"""Artifact Registry for Central's image, writable only by the Cloud Build account."""

from __future__ import annotations

from dataclasses import dataclass

from cdktf_cdktf_provider_google.artifact_registry_repository import (
    ArtifactRegistryRepository,
    ArtifactRegistryRepositoryCleanupPolicies,
    ArtifactRegistryRepositoryCleanupPoliciesCondition,
    ArtifactRegistryRepositoryCleanupPoliciesMostRecentVersions,
)
from cdktf_cdktf_provider_google.artifact_registry_repository_iam_member import (
    ArtifactRegistryRepositoryIamMember,
)
from constructs import Construct

from stacks.iam import Member


@dataclass(frozen=True)
class RegistryConfig:
    project_id: str
    region: str
    repository_id: str
    writers: tuple[Member, ...]


@dataclass(frozen=True)
class RegistryOutput:
    repository: ArtifactRegistryRepository
    url: str  # <region>-docker.pkg.dev/<project>/<repository>
    writer_bindings: tuple[ArtifactRegistryRepositoryIamMember, ...]


def registry(scope: Construct, config: RegistryConfig) -> RegistryOutput:
    repository = ArtifactRegistryRepository(
        scope,
        "registry",
        project=config.project_id,
        location=config.region,
        repository_id=config.repository_id,
        format="DOCKER",
        description="BakeSight Central images",
        # Every source change is a new tag. A KEEP policy alone deletes nothing: versions older
        # than a week are deleted, except the five most recent (KEEP wins over DELETE), so the
        # running image and a few to roll back to always stay.
        cleanup_policy_dry_run=False,
        cleanup_policies=[
            ArtifactRegistryRepositoryCleanupPolicies(
                id="delete-old",
                action="DELETE",
                condition=ArtifactRegistryRepositoryCleanupPoliciesCondition(
                    tag_state="ANY", older_than=f"{7 * 24 * 3600}s"
                ),
            ),
            ArtifactRegistryRepositoryCleanupPolicies(
                id="keep-recent",
                action="KEEP",
                most_recent_versions=ArtifactRegistryRepositoryCleanupPoliciesMostRecentVersions(
                    keep_count=5
                ),
            ),
        ],
    )
    bindings = tuple(
        ArtifactRegistryRepositoryIamMember(
            scope,
            f"registry-writer-{writer.label}",
            project=config.project_id,
            location=config.region,
            repository=repository.name,
            role="roles/artifactregistry.writer",
            member=writer.member,
        )
        for writer in config.writers
    )
    url = f"{config.region}-docker.pkg.dev/{config.project_id}/{config.repository_id}"
    return RegistryOutput(repository=repository, url=url, writer_bindings=bindings)
