"""The VPC: a subnet for the GPU VM, one for Cloud Run's Direct VPC egress, NAT and the firewall."""

from __future__ import annotations

from dataclasses import dataclass

from cdktf_cdktf_provider_google.compute_address import ComputeAddress
from cdktf_cdktf_provider_google.compute_firewall import (
    ComputeFirewall,
    ComputeFirewallAllow,
    ComputeFirewallLogConfig,
)
from cdktf_cdktf_provider_google.compute_network import ComputeNetwork
from cdktf_cdktf_provider_google.compute_router import ComputeRouter
from cdktf_cdktf_provider_google.compute_router_nat import (
    ComputeRouterNat,
    ComputeRouterNatLogConfig,
    ComputeRouterNatSubnetwork,
)
from cdktf_cdktf_provider_google.compute_subnetwork import (
    ComputeSubnetwork,
    ComputeSubnetworkLogConfig,
)
from constructs import Construct

# Google's IAP TCP forwarding range: the only source `gcloud compute ssh --tunnel-through-iap` uses.
IAP_TCP_FORWARDING_RANGE = "35.235.240.0/20"
AI_TARGET_TAG = "ai-infer"


@dataclass(frozen=True)
class NetworkConfig:
    project_id: str
    region: str
    network_name: str
    vm_subnet_name: str
    vm_subnet_range: str
    run_subnet_name: str
    run_subnet_range: str
    router_name: str
    nat_name: str
    firewall_ai_name: str
    firewall_iap_ssh_name: str
    ai_address_name: str
    ai_port: int


@dataclass(frozen=True)
class NetworkOutput:
    network: ComputeNetwork
    vm_subnet: ComputeSubnetwork
    run_subnet: ComputeSubnetwork
    ai_address: ComputeAddress
    nat: ComputeRouterNat
    ai_target_tag: str


def network(scope: Construct, config: NetworkConfig) -> NetworkOutput:
    vpc = ComputeNetwork(
        scope,
        "network",
        project=config.project_id,
        name=config.network_name,
        auto_create_subnetworks=False,
    )
    flow_logs = ComputeSubnetworkLogConfig(
        aggregation_interval="INTERVAL_10_MIN", flow_sampling=0.5, metadata="INCLUDE_ALL_METADATA"
    )
    vm_subnet = ComputeSubnetwork(
        scope,
        "vm-subnet",
        project=config.project_id,
        region=config.region,
        name=config.vm_subnet_name,
        network=vpc.id,
        ip_cidr_range=config.vm_subnet_range,
        # The VM has no external IP: Private Google Access lets it reach Cloud Storage and Secret
        # Manager (its archive and its key) without going through NAT.
        private_ip_google_access=True,
        log_config=flow_logs,
    )
    # Cloud Run's Direct VPC egress takes its addresses from this subnet; keeping it apart from
    # the VM's lets the AI firewall rule name exactly those addresses.
    run_subnet = ComputeSubnetwork(
        scope,
        "run-subnet",
        project=config.project_id,
        region=config.region,
        name=config.run_subnet_name,
        network=vpc.id,
        ip_cidr_range=config.run_subnet_range,
        private_ip_google_access=True,
        log_config=flow_logs,
    )

    # The AI VM's address is reserved apart from the VM, so AI_BASE_URL can be written before the VM
    # exists (the VM needs the secrets first) and survives the VM being replaced.
    ai_address = ComputeAddress(
        scope,
        "ai-address",
        project=config.project_id,
        region=config.region,
        name=config.ai_address_name,
        address_type="INTERNAL",
        subnetwork=vm_subnet.id,
    )

    router = ComputeRouter(
        scope,
        "router",
        project=config.project_id,
        region=config.region,
        name=config.router_name,
        network=vpc.id,
    )
    # Without an external IP the VM needs NAT to install packages at boot; only its subnet is
    # NATed (Cloud Run egresses to the internet on its own, private ranges only go through the VPC).
    nat = ComputeRouterNat(
        scope,
        "nat",
        project=config.project_id,
        region=config.region,
        name=config.nat_name,
        router=router.name,
        nat_ip_allocate_option="AUTO_ONLY",
        source_subnetwork_ip_ranges_to_nat="LIST_OF_SUBNETWORKS",
        subnetwork=[
            ComputeRouterNatSubnetwork(name=vm_subnet.id, source_ip_ranges_to_nat=["ALL_IP_RANGES"])
        ],
        log_config=ComputeRouterNatLogConfig(enable=True, filter="ERRORS_ONLY"),
    )

    firewall_logs = ComputeFirewallLogConfig(metadata="INCLUDE_ALL_METADATA")
    # Cloud Run's Direct VPC egress addresses are ephemeral and its network tags are not a
    # supported source for ingress rules, so Google's docs say to write IP-based rules against the
    # whole egress subnet. The runbook's `--source-tags central-run` rule may never match it.
    ComputeFirewall(
        scope,
        "firewall-ai",
        project=config.project_id,
        name=config.firewall_ai_name,
        network=vpc.id,
        direction="INGRESS",
        priority=900,
        allow=[ComputeFirewallAllow(protocol="tcp", ports=[str(config.ai_port)])],
        source_ranges=[config.run_subnet_range],
        target_tags=[AI_TARGET_TAG],
        log_config=firewall_logs,
    )
    ComputeFirewall(
        scope,
        "firewall-iap-ssh",
        project=config.project_id,
        name=config.firewall_iap_ssh_name,
        network=vpc.id,
        direction="INGRESS",
        priority=1000,
        allow=[ComputeFirewallAllow(protocol="tcp", ports=["22"])],
        source_ranges=[IAP_TCP_FORWARDING_RANGE],
        target_tags=[AI_TARGET_TAG],
        log_config=firewall_logs,
    )
    return NetworkOutput(
        network=vpc,
        vm_subnet=vm_subnet,
        run_subnet=run_subnet,
        ai_address=ai_address,
        nat=nat,
        ai_target_tag=AI_TARGET_TAG,
    )
