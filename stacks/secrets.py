"""Secret Manager secrets, each with its value and the accounts allowed to read it.

Values are Terraform references (generated keys, the SQL password, the VM's address): the
synthesized JSON never holds one. Readers are bound per secret, so Central cannot read a secret it
does not use and the AI VM reads only its own key.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf_cdktf_provider_google.secret_manager_secret import (
    SecretManagerSecret,
    SecretManagerSecretReplication,
    SecretManagerSecretReplicationUserManaged,
    SecretManagerSecretReplicationUserManagedReplicas,
)
from cdktf_cdktf_provider_google.secret_manager_secret_iam_member import (
    SecretManagerSecretIamMember,
)
from cdktf_cdktf_provider_google.secret_manager_secret_version import SecretManagerSecretVersion
from constructs import Construct

from stacks.iam import Member


@dataclass(frozen=True)
class SecretConfig:
    secret_id: str
    value: str
    accessors: tuple[Member, ...]


@dataclass(frozen=True)
class SecretsConfig:
    project_id: str
    region: str
    secrets: tuple[SecretConfig, ...]


@dataclass(frozen=True)
class Secret:
    secret: SecretManagerSecret
    version: SecretManagerSecretVersion
    accessor_bindings: tuple[SecretManagerSecretIamMember, ...]

    @property
    def version_number(self) -> str:
        """The version to pin readers to: a new value is a new version, and a new Cloud Run
        revision, instead of `latest` changing under a running service."""
        return self.version.version


@dataclass(frozen=True)
class SecretsOutput:
    secrets: dict[str, Secret]


def secrets(scope: Construct, config: SecretsConfig) -> SecretsOutput:
    created: dict[str, Secret] = {}
    for secret_config in config.secrets:
        key = secret_config.secret_id.lower().replace("_", "-")
        secret = SecretManagerSecret(
            scope,
            f"secret-{key}",
            project=config.project_id,
            secret_id=secret_config.secret_id,
            # Stored only in the demo's region.
            replication=SecretManagerSecretReplication(
                user_managed=SecretManagerSecretReplicationUserManaged(
                    replicas=[
                        SecretManagerSecretReplicationUserManagedReplicas(location=config.region)
                    ]
                )
            ),
        )
        version = SecretManagerSecretVersion(
            scope,
            f"secret-{key}-version",
            secret=secret.id,
            secret_data=secret_config.value,
        )
        bindings = tuple(
            SecretManagerSecretIamMember(
                scope,
                f"secret-{key}-accessor-{accessor.label}",
                project=config.project_id,
                secret_id=secret.secret_id,
                role="roles/secretmanager.secretAccessor",
                member=accessor.member,
            )
            for accessor in secret_config.accessors
        )
        created[secret_config.secret_id] = Secret(
            secret=secret, version=version, accessor_bindings=bindings
        )
    return SecretsOutput(secrets=created)
