"""One service account per workload, with only the project roles that cannot be scoped further.

Roles that can be scoped to a resource (a bucket, a secret, the Artifact Registry repository) are
granted next to that resource, by the construct that creates it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cdktf_cdktf_provider_google.project_iam_member import (
    ProjectIamMember,
    ProjectIamMemberCondition,
)
from cdktf_cdktf_provider_google.service_account import ServiceAccount
from constructs import Construct

from stacks.iam import Member


@dataclass(frozen=True)
class ProjectRole:
    role: str
    # An IAM condition (CEL) narrowing the grant, where the service supports one.
    condition: str | None = None
    condition_title: str | None = None


@dataclass(frozen=True)
class ServiceAccountConfig:
    key: str
    account_id: str
    display_name: str
    project_roles: tuple[ProjectRole, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class ServiceAccountsConfig:
    project_id: str
    accounts: tuple[ServiceAccountConfig, ...]


@dataclass(frozen=True)
class ServiceAccountsOutput:
    accounts: dict[str, ServiceAccount]
    members: dict[str, Member]
    project_grants: dict[str, tuple[ProjectIamMember, ...]]


def service_accounts(scope: Construct, config: ServiceAccountsConfig) -> ServiceAccountsOutput:
    accounts: dict[str, ServiceAccount] = {}
    members: dict[str, Member] = {}
    project_grants: dict[str, tuple[ProjectIamMember, ...]] = {}
    for account_config in config.accounts:
        account = ServiceAccount(
            scope,
            f"sa-{account_config.key}",
            project=config.project_id,
            account_id=account_config.account_id,
            display_name=account_config.display_name,
        )
        member = Member(account_config.key, account.member)
        grants: list[ProjectIamMember] = []
        for project_role in account_config.project_roles:
            condition = (
                ProjectIamMemberCondition(
                    title=project_role.condition_title or "scoped",
                    expression=project_role.condition,
                )
                if project_role.condition
                else None
            )
            grant = ProjectIamMember(
                scope,
                f"sa-{account_config.key}-{project_role.role.removeprefix('roles/')}",
                project=config.project_id,
                role=project_role.role,
                member=member.member,
                condition=condition,
            )
            grants.append(grant)
        project_grants[account_config.key] = tuple(grants)
        accounts[account_config.key] = account
        members[account_config.key] = member
    return ServiceAccountsOutput(accounts=accounts, members=members, project_grants=project_grants)
