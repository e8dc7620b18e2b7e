"""The Google APIs the stack needs, enabled first and left enabled on destroy."""

from __future__ import annotations

from dataclasses import dataclass

import jsii
from cdktf import IAspect, TerraformDataSource, TerraformResource
from cdktf_cdktf_provider_google.project_service import ProjectService
from constructs import Construct, IConstruct

# The runbook's six (§2), plus what its fixes need: IAM for the service accounts, IAP for SSH
# without an external IP, Cloud Resource Manager for project IAM bindings.
SERVICES = (
    "run.googleapis.com",
    "cloudbuild.googleapis.com",
    "artifactregistry.googleapis.com",
    "sqladmin.googleapis.com",
    "secretmanager.googleapis.com",
    "compute.googleapis.com",
    "iam.googleapis.com",
    "iap.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "storage.googleapis.com",
)


@dataclass(frozen=True)
class ProjectServicesConfig:
    project_id: str
    services: tuple[str, ...] = SERVICES


@dataclass(frozen=True)
class ProjectServicesOutput:
    services: tuple[ProjectService, ...]


def project_services(scope: Construct, config: ProjectServicesConfig) -> ProjectServicesOutput:
    services = tuple(
        ProjectService(
            scope,
            f"service-{service.split('.')[0]}",
            project=config.project_id,
            service=service,
            # Leaving APIs on after the demo is harmless; turning them off on destroy can fail on
            # dependents and would break anything else in the project that uses them.
            disable_on_destroy=False,
            disable_dependent_services=False,
        )
        for service in config.services
    )
    return ProjectServicesOutput(services=services)


@jsii.implements(IAspect)
class DependOnServices:
    """Makes every google resource and data source wait for the APIs: otherwise the first apply on
    an empty project races the API enablement and fails with 'API has not been used in project'
    (`data.google_project` needs the Resource Manager API before it can be read)."""

    def __init__(self, services: ProjectServicesOutput) -> None:
        self._services = services.services

    def visit(self, node: IConstruct) -> None:
        if (
            isinstance(node, TerraformResource | TerraformDataSource)
            and node.terraform_resource_type.startswith("google_")
            and node.terraform_resource_type != "google_project_service"
        ):
            # Plain `type.name` addresses: Terraform rejects `${...}` templates in depends_on.
            services = [
                f"{service.terraform_resource_type}.{service.friendly_unique_id}"
                for service in self._services
            ]
            existing = list(node.depends_on or [])
            node.depends_on = existing + [s for s in services if s not in existing]
