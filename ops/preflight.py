"""`nox -s preflight`: what would stop `nox -s deploy` on this project, one line each with its fix.

Read-only: it changes nothing in the project. Checks, in order: gcloud logged in for the CLI and
for application-default credentials (Terraform uses those), the project and its billing, the
Compute Engine API (needed to read quotas), the GPU quotas (new projects have 0), the zone's
accelerator, and the organization policies that would block this stack.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ops.gcloud import Gcloud, GcloudError
from stacks.config import StackConfig

# The quota metric of each accelerator, per region (Compute Engine quotas).
GPU_QUOTA_METRICS = {"nvidia-tesla-t4": "NVIDIA_T4_GPUS"}


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)

    def problem(self, what: str, fix: str) -> None:
        self.problems.append(f"{what} — fix: {fix}")


def run_preflight(gcloud: Gcloud, config: StackConfig) -> Report:
    report = Report()
    if not gcloud.available():
        report.problem(
            "gcloud is not installed", "install the Google Cloud CLI (cloud.google.com/sdk)"
        )
        return report
    checks: list[Callable[[Gcloud, StackConfig, Report], bool]] = [
        _cli_login,
        _application_default_login,
        _project_and_billing,
        _compute_api,
    ]
    try:
        for check in checks:
            if not check(gcloud, config, report):
                return report  # later checks would only repeat this problem
        _gpu_quotas(gcloud, config, report)
        _zone_accelerator(gcloud, config, report)
        _org_policies(gcloud, config, report)
    except GcloudError as error:
        report.problem(f"{error}", "check the project id and your role on it, then run it again")
    return report


def _cli_login(gcloud: Gcloud, config: StackConfig, report: Report) -> bool:
    try:
        accounts = gcloud.json("auth", "list", project=False) or []
    except GcloudError as error:
        report.problem(f"gcloud auth list failed ({error.stderr})", "gcloud auth login")
        return False
    active = [a.get("account") for a in accounts if a.get("status") == "ACTIVE"]
    if not active:
        report.problem("gcloud is not logged in", "gcloud auth login")
        return False
    report.passed.append(f"gcloud logged in as {active[0]}")
    return True


def _application_default_login(gcloud: Gcloud, config: StackConfig, report: Report) -> bool:
    if not gcloud.ok("auth", "application-default", "print-access-token", project=False):
        report.problem(
            "no application-default credentials (Terraform's Google provider uses them)",
            "gcloud auth application-default login",
        )
        return False
    report.passed.append("application-default credentials work")
    return True


def _project_and_billing(gcloud: Gcloud, config: StackConfig, report: Report) -> bool:
    project = config.project_id
    try:
        described = gcloud.json("projects", "describe", project, project=False) or {}
    except GcloudError as error:
        report.problem(
            f"project {project} cannot be read ({error.stderr})",
            "check the project id (BAKESIGHT_PROJECT_ID) and that your account has Owner on it",
        )
        return False
    if described.get("lifecycleState", "ACTIVE") != "ACTIVE":
        report.problem(
            f"project {project} is {described.get('lifecycleState')}",
            f"gcloud projects undelete {project}, or use another project",
        )
        return False
    link = f"https://console.cloud.google.com/billing/linkedaccount?project={project}"
    try:
        billing = gcloud.json("billing", "projects", "describe", project, project=False) or {}
    except GcloudError as error:
        # Reading billing needs the Cloud Billing API and a billing role; not being able to read
        # it does not mean it is off.
        report.notes.append(
            f"could not read the billing of {project} ({error.stderr}); check {link}"
        )
        report.passed.append(f"project {project} is active")
        return True
    if not billing.get("billingEnabled"):
        report.problem(
            f"billing is not enabled on {project}",
            f"link a billing account: {link}",
        )
        return False
    report.passed.append(f"project {project} is active with billing")
    return True


def _compute_api(gcloud: Gcloud, config: StackConfig, report: Report) -> bool:
    enabled = gcloud.json(
        "services", "list", "--enabled", "--filter=config.name=compute.googleapis.com"
    )
    if not enabled:
        report.problem(
            "the Compute Engine API is off, so the GPU quota cannot be checked",
            f"gcloud services enable compute.googleapis.com --project={config.project_id} "
            "(the deploy would enable it too), then run preflight again",
        )
        return False
    return True


def _free(quotas: list[dict[str, Any]], metric: str) -> float | None:
    for quota in quotas:
        if quota.get("metric") == metric:
            return float(quota.get("limit", 0)) - float(quota.get("usage", 0))
    return None


def _gpu_quotas(gcloud: Gcloud, config: StackConfig, report: Report) -> None:
    link = (
        f"request 1 at https://console.cloud.google.com/iam-admin/quotas?project="
        f"{config.project_id} (filter: {{metric}}; new projects start at 0; approval can take "
        "a day)"
    )
    try:
        project_quotas = (gcloud.json("compute", "project-info", "describe") or {}).get(
            "quotas", []
        )
        region_quotas = (gcloud.json("compute", "regions", "describe", config.region) or {}).get(
            "quotas", []
        )
    except GcloudError as error:
        report.problem(
            f"the quotas cannot be read ({error.stderr})", "check your role on the project"
        )
        return
    regional_metric = GPU_QUOTA_METRICS.get(config.accelerator, "")
    for metric, quotas, scope in (
        ("GPUS_ALL_REGIONS", project_quotas, "all regions"),
        (regional_metric, region_quotas, config.region),
    ):
        free = _free(quotas, metric)
        if free is None or free < 1:
            have = "no" if free is None else f"{free:g} free"
            report.problem(
                f"GPU quota {metric} ({scope}) has {have}; the VM needs 1",
                link.replace("{metric}", metric),
            )
        else:
            report.passed.append(f"GPU quota {metric} ({scope}): {free:g} free")


def _zone_accelerator(gcloud: Gcloud, config: StackConfig, report: Report) -> None:
    try:
        types = gcloud.json(
            "compute", "accelerator-types", "list", f"--filter=zone:({config.zone})"
        )
    except GcloudError as error:
        report.problem(
            f"the accelerators of {config.zone} cannot be listed ({error.stderr})", "retry"
        )
        return
    names = {t.get("name") for t in types or []}
    if config.accelerator not in names:
        report.problem(
            f"zone {config.zone} offers no {config.accelerator}",
            "set BAKESIGHT_ZONE to a zone listed by `gcloud compute accelerator-types list "
            f'--filter="name={config.accelerator} AND zone~{config.region}"`',
        )
    else:
        report.passed.append(f"{config.zone} offers {config.accelerator}")


# (constraint, why it blocks this stack). Boolean constraints block when enforced. The VM has no
# external IP, so compute.vmExternalIpAccess cannot block it; Cloud SQL's public IP can.
_BOOLEAN_POLICIES = (
    (
        "constraints/sql.restrictPublicIp",
        "Cloud SQL needs its public IP (reached only through the connector, with client certs)",
    ),
    (
        "constraints/compute.requireShieldedVm",
        "the GPU VM runs with Secure Boot off (the NVIDIA kernel modules are not signed for it)",
    ),
)


def _org_policies(gcloud: Gcloud, config: StackConfig, report: Report) -> None:
    def effective(constraint: str) -> dict[str, Any] | None:
        try:
            return (
                gcloud.json(
                    "resource-manager",
                    "org-policies",
                    "describe",
                    constraint,
                    "--effective",
                )
                or {}
            )
        except GcloudError as error:
            report.notes.append(f"could not read org policy {constraint} ({error.stderr})")
            return None

    fix = "ask your organization admin for an exception on this project"
    for constraint, why in _BOOLEAN_POLICIES:
        policy = effective(constraint)
        if policy and policy.get("booleanPolicy", {}).get("enforced"):
            report.problem(f"org policy {constraint} is enforced: {why}", fix)

    members = effective("constraints/iam.allowedPolicyMemberDomains")
    if members and _restricts(members):
        report.problem(
            "org policy iam.allowedPolicyMemberDomains forbids allUsers, so Central's Cloud Run "
            "service cannot be public (kiosks call it without Google identities)",
            fix,
        )
    ingress = effective("constraints/run.allowedIngress")
    if ingress and not _allows(ingress, "all"):
        report.problem(
            "org policy run.allowedIngress forbids ingress 'all' for Central on Cloud Run", fix
        )
    locations = effective("constraints/gcp.resourceLocations")
    if locations:
        for region in sorted({config.region, config.build_region}):
            if not _location_allowed(locations, region):
                report.problem(
                    f"org policy gcp.resourceLocations does not allow {region}",
                    fix if region == config.region else f"set BAKESIGHT_BUILD_REGION, or {fix}",
                )


def _restricts(policy: dict[str, Any]) -> bool:
    listed = policy.get("listPolicy") or {}
    return bool(listed.get("allowedValues")) or listed.get("allValues") == "DENY"


def _allows(policy: dict[str, Any], value: str) -> bool:
    listed = policy.get("listPolicy") or {}
    if listed.get("allValues") == "DENY" or value in listed.get("deniedValues", []):
        return False
    allowed = listed.get("allowedValues")
    return not allowed or value in allowed


def _location_allowed(policy: dict[str, Any], region: str) -> bool:
    listed = policy.get("listPolicy") or {}
    groups = {region, f"in:{region}-locations"}
    continent = region.split("-")[0]
    groups |= {f"in:{continent}-locations"}
    denied = {v.removeprefix("under:") for v in listed.get("deniedValues", [])}
    if listed.get("allValues") == "DENY" or groups & denied:
        return False
    allowed = {v.removeprefix("under:") for v in listed.get("allowedValues", [])}
    return not allowed or bool(groups & allowed)


def print_report(report: Report, out: Callable[[str], None] = print) -> int:
    for line in report.passed:
        out(f"preflight: ok       {line}")
    for line in report.notes:
        out(f"preflight: note     {line}")
    for line in report.problems:
        out(f"preflight: PROBLEM  {line}")
    if report.problems:
        out(f"preflight: {len(report.problems)} problem(s): fix them before `nox -s deploy`")
        return 1
    out("preflight: ready to deploy")
    return 0
