"""GCS buckets: tray and CCTV captures (deleted after 14 days), the AI models, and build sources."""

from __future__ import annotations

from dataclasses import dataclass, field

from cdktf_cdktf_provider_google.storage_bucket import (
    StorageBucket,
    StorageBucketLifecycleRule,
    StorageBucketLifecycleRuleAction,
    StorageBucketLifecycleRuleCondition,
    StorageBucketSoftDeletePolicy,
    StorageBucketVersioning,
)
from cdktf_cdktf_provider_google.storage_bucket_iam_member import (
    StorageBucketIamMember,
    StorageBucketIamMemberCondition,
)
from constructs import Construct

from stacks.iam import Member


@dataclass(frozen=True)
class BucketConfig:
    """One bucket and who may use it; IAM is granted on the bucket, never on the project."""

    key: str
    name: str
    delete_after_days: int | None = None
    object_admins: tuple[Member, ...] = ()
    object_viewers: tuple[Member, ...] = ()
    # (prefix, member): may create, overwrite and delete objects under that prefix only.
    prefix_writers: tuple[tuple[str, Member], ...] = ()


@dataclass(frozen=True)
class BucketsConfig:
    project_id: str
    region: str
    buckets: tuple[BucketConfig, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class BucketsOutput:
    buckets: dict[str, StorageBucket]
    grants: dict[str, tuple[StorageBucketIamMember, ...]]


def buckets(scope: Construct, config: BucketsConfig) -> BucketsOutput:
    created: dict[str, StorageBucket] = {}
    grants: dict[str, tuple[StorageBucketIamMember, ...]] = {}
    for bucket_config in config.buckets:
        lifecycle = (
            [
                StorageBucketLifecycleRule(
                    action=StorageBucketLifecycleRuleAction(type="Delete"),
                    condition=StorageBucketLifecycleRuleCondition(
                        age=bucket_config.delete_after_days
                    ),
                )
            ]
            if bucket_config.delete_after_days is not None
            else None
        )
        bucket = StorageBucket(
            scope,
            f"bucket-{bucket_config.key}",
            project=config.project_id,
            name=bucket_config.name,
            location=config.region.upper(),
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            lifecycle_rule=lifecycle,
            # Demo data: `destroy` removes the buckets with whatever is still in them, and deleted
            # objects are not kept around (no versioning, no soft delete) to be billed after.
            force_destroy=True,
            versioning=StorageBucketVersioning(enabled=False),
            soft_delete_policy=StorageBucketSoftDeletePolicy(retention_duration_seconds=0),
        )
        grants[bucket_config.key] = tuple(
            _grant(scope, bucket_config.key, bucket, role, member)
            for role, members in (
                ("roles/storage.objectAdmin", bucket_config.object_admins),
                ("roles/storage.objectViewer", bucket_config.object_viewers),
            )
            for member in members
        ) + tuple(
            _prefix_grant(scope, bucket_config, bucket, prefix, member)
            for prefix, member in bucket_config.prefix_writers
        )
        created[bucket_config.key] = bucket
    return BucketsOutput(buckets=created, grants=grants)


def _prefix_grant(
    scope: Construct, config: BucketConfig, bucket: StorageBucket, prefix: str, member: Member
) -> StorageBucketIamMember:
    """objectUser, but only where the object's name starts with `prefix` (an IAM condition)."""
    return StorageBucketIamMember(
        scope,
        f"bucket-{config.key}-prefix-writer-{member.label}",
        bucket=bucket.name,
        role="roles/storage.objectUser",
        member=member.member,
        condition=StorageBucketIamMemberCondition(
            title=f"only {prefix}",
            expression=(
                f'resource.name.startsWith("projects/_/buckets/{config.name}/objects/{prefix}")'
            ),
        ),
    )


def _grant(
    scope: Construct, key: str, bucket: StorageBucket, role: str, member: Member
) -> StorageBucketIamMember:
    return StorageBucketIamMember(
        scope,
        f"bucket-{key}-{role.rsplit('.', 1)[-1]}-{member.label}",
        bucket=bucket.name,
        role=role,
        member=member.member,
    )
