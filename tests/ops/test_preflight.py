"""`nox -s preflight` against a stubbed gcloud: one line per problem, each with its fix."""

from __future__ import annotations

from ops.gcloud import Gcloud
from ops.preflight import Report, print_report, run_preflight
from stacks.config import StackConfig
from tests.ops.conftest import PROJECT
from tests.ops.fake_gcloud import FakeGcloud


def healthy(fake: FakeGcloud) -> FakeGcloud:
    """A project ready for the stack: logged in, billing, quota, T4 in the zone, no policies."""
    fake.on("auth", "list", out=[{"account": "owner@example.com", "status": "ACTIVE"}])
    fake.on("auth", "application-default", "print-access-token", out="ya29.token")
    fake.on("projects", "describe", PROJECT, out={"lifecycleState": "ACTIVE"})
    fake.on("billing", "projects", "describe", PROJECT, out={"billingEnabled": True})
    fake.on("services", "list", out=[{"config": {"name": "compute.googleapis.com"}}])
    fake.on(
        "compute",
        "project-info",
        "describe",
        out={"quotas": [{"metric": "GPUS_ALL_REGIONS", "limit": 1.0, "usage": 0.0}]},
    )
    fake.on(
        "compute",
        "regions",
        "describe",
        "asia-northeast3",
        out={"quotas": [{"metric": "NVIDIA_T4_GPUS", "limit": 4.0, "usage": 0.0}]},
    )
    fake.on(
        "compute",
        "accelerator-types",
        "list",
        out=[{"name": "nvidia-tesla-t4", "zone": "asia-northeast3-b"}],
    )
    fake.on("resource-manager", "org-policies", "describe", out={})
    return fake


def lines(report: Report) -> list[str]:
    out: list[str] = []
    print_report(report, out.append)
    return out


def test_a_ready_project_passes(gcloud_fake: FakeGcloud, gcloud: Gcloud, config: StackConfig):
    healthy(gcloud_fake)

    report = run_preflight(gcloud, config)

    assert report.problems == [], report.problems
    assert lines(report)[-1] == "preflight: ready to deploy"
    assert print_report(report, lambda _: None) == 0
    # It asked about the stack's zone and read-only commands only.
    calls = gcloud_fake.positional_calls()
    assert any("--filter=zone:(asia-northeast3-b)" in c for c in calls)
    assert not [c for c in calls if any(w in c.split() for w in ("create", "enable", "update"))]


def test_not_logged_in_is_one_line_and_stops(gcloud_fake, gcloud, config):
    healthy(gcloud_fake).on("auth", "list", out=[])

    report = run_preflight(gcloud, config)

    assert report.problems == ["gcloud is not logged in — fix: gcloud auth login"]
    assert print_report(report, lambda _: None) == 1


def test_missing_application_default_credentials(gcloud_fake, gcloud, config):
    healthy(gcloud_fake).on(
        "auth", "application-default", "print-access-token", exit=1, err="ERROR: not found\n"
    )

    [problem] = run_preflight(gcloud, config).problems

    assert "application-default" in problem and "gcloud auth application-default login" in problem


def test_billing_off_names_the_page_to_link_it(gcloud_fake, gcloud, config):
    healthy(gcloud_fake).on(
        "billing", "projects", "describe", PROJECT, out={"billingEnabled": False}
    )

    [problem] = run_preflight(gcloud, config).problems

    assert problem.startswith(f"billing is not enabled on {PROJECT}")
    assert f"billing/linkedaccount?project={PROJECT}" in problem


def test_a_new_projects_zero_gpu_quota_names_both_quotas_and_where_to_ask(
    gcloud_fake, gcloud, config
):
    healthy(gcloud_fake)
    gcloud_fake.on(
        "compute",
        "project-info",
        "describe",
        out={"quotas": [{"metric": "GPUS_ALL_REGIONS", "limit": 0.0, "usage": 0.0}]},
    )
    gcloud_fake.on("compute", "regions", "describe", "asia-northeast3", out={"quotas": []})

    problems = run_preflight(gcloud, config).problems

    assert len(problems) == 2
    assert problems[0].startswith("GPU quota GPUS_ALL_REGIONS (all regions) has 0 free")
    assert problems[1].startswith("GPU quota NVIDIA_T4_GPUS (asia-northeast3) has no")
    assert all(f"iam-admin/quotas?project={PROJECT}" in p for p in problems)


def test_a_zone_without_the_gpu(gcloud_fake, gcloud, config):
    healthy(gcloud_fake).on("compute", "accelerator-types", "list", out=[])

    [problem] = run_preflight(gcloud, config).problems

    assert problem.startswith("zone asia-northeast3-b offers no nvidia-tesla-t4")
    assert "BAKESIGHT_ZONE" in problem


def test_org_policies_that_block_the_stack_are_each_named(gcloud_fake, gcloud, config):
    healthy(gcloud_fake)
    describe = ("resource-manager", "org-policies", "describe")
    gcloud_fake.on(
        *describe, "constraints/sql.restrictPublicIp", out={"booleanPolicy": {"enforced": True}}
    )
    gcloud_fake.on(
        *describe,
        "constraints/iam.allowedPolicyMemberDomains",
        out={"listPolicy": {"allowedValues": ["C0abc123"]}},
    )
    gcloud_fake.on(
        *describe,
        "constraints/gcp.resourceLocations",
        out={"listPolicy": {"allowedValues": ["in:asia-northeast3-locations"]}},
    )

    problems = run_preflight(gcloud, config).problems

    assert [p.split(" — ")[0].split(":")[0] for p in problems] == [
        "org policy constraints/sql.restrictPublicIp is enforced",
        "org policy iam.allowedPolicyMemberDomains forbids allUsers, so Central's Cloud Run "
        "service cannot be public (kiosks call it without Google identities)",
        # Seoul is allowed, the build region (Taiwan) is not.
        "org policy gcp.resourceLocations does not allow asia-east1",
    ]
    assert "BAKESIGHT_BUILD_REGION" in problems[2]


def test_an_unreadable_policy_is_a_note_not_a_problem(gcloud_fake, gcloud, config):
    healthy(gcloud_fake).on(
        "resource-manager", "org-policies", "describe", exit=1, err="PERMISSION_DENIED\n"
    )

    report = run_preflight(gcloud, config)

    assert report.problems == [] and len(report.notes) == 5
    assert "PERMISSION_DENIED" in report.notes[0]


def test_compute_api_off_says_how_to_enable_it(gcloud_fake, gcloud, config):
    healthy(gcloud_fake).on("services", "list", out=[])

    [problem] = run_preflight(gcloud, config).problems

    assert f"gcloud services enable compute.googleapis.com --project={PROJECT}" in problem


def test_without_gcloud_it_says_how_to_get_it(config):
    report = run_preflight(Gcloud(PROJECT, executable="no-such-gcloud"), config)

    assert report.problems == [
        "gcloud is not installed — fix: install the Google Cloud CLI (cloud.google.com/sdk)"
    ]


def test_unreadable_billing_is_a_note_with_the_page_to_check(gcloud_fake, gcloud, config):
    healthy(gcloud_fake).on(
        "billing", "projects", "describe", PROJECT, exit=1, err="API cloudbilling not enabled\n"
    )

    report = run_preflight(gcloud, config)

    assert report.problems == []
    assert any("billing/linkedaccount" in note for note in report.notes)


def test_a_failing_gcloud_call_is_one_problem_not_a_traceback(gcloud_fake, gcloud, config):
    healthy(gcloud_fake).on("services", "list", exit=1, err="ERROR: PERMISSION_DENIED\n")

    [problem] = run_preflight(gcloud, config).problems

    assert "PERMISSION_DENIED" in problem and "— fix:" in problem
