"""IAM members as the constructs take them, and the wait for a grant to take effect."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cdktf import LocalExecProvisioner, TerraformProviderGeneratorMetadata, TerraformResource
from constructs import Construct

# Google documents IAM changes as taking effect "typically within 2 minutes, up to 7".
IAM_PROPAGATION_S = 120


@dataclass(frozen=True)
class Member:
    """`member` is often a Terraform reference (an account's email), so ids use `label` instead."""

    label: str
    member: str


def propagation_wait(
    scope: Construct,
    id_: str,
    grants: Sequence[TerraformResource],
    seconds: int = IAM_PROPAGATION_S,
) -> TerraformResource:
    """A `terraform_data` that sleeps once after `grants` are created (and again if they change).

    IAM grants take effect within minutes, not at once: an instance schedule attached right after
    the Compute Engine agent's grant fails with 412, and a build pushing right after the writer
    grant is denied. What uses a grant depends on this wait instead of on the grant.
    """
    wait = TerraformResource(
        scope,
        id_,
        terraform_resource_type="terraform_data",
        terraform_generator_metadata=TerraformProviderGeneratorMetadata(provider_name="terraform"),
        depends_on=list(grants),
        provisioners=[LocalExecProvisioner(type="local-exec", command=f"sleep {seconds}")],
    )
    wait.add_override(
        "triggers_replace",
        [f"${{{g.terraform_resource_type}.{g.friendly_unique_id}.id}}" for g in grants],
    )
    return wait
