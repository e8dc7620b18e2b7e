"""Synth-level assertions on the stack, one group per requirement of issue 7.

cdktf's Testing matchers check that a resource with (at least) these properties exists; the parsed
JSON is used where a requirement is an absence or an exact set.
"""

from __future__ import annotations

import json
import re
import subprocess

import cdktf

from tests.stacks.conftest import PROJECT, Synth

RFC1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
REF = re.compile(r"\$\{[^}]+\}")


def has(synth: Synth, resource_type: str, properties: dict) -> bool:
    return cdktf.Testing.to_have_resource_with_properties(synth.text, resource_type, properties)


# --- names ---------------------------------------------------------------------------------------


def test_every_gcp_resource_name_is_valid(synth: Synth) -> None:
    named_types = [
        "google_compute_network",
        "google_compute_subnetwork",
        "google_compute_router",
        "google_compute_router_nat",
        "google_compute_firewall",
        "google_compute_instance",
        "google_compute_address",
        "google_compute_resource_policy",
        "google_sql_database_instance",
        "google_cloud_run_v2_service",
    ]
    for resource_type in named_types:
        for resource in synth.resources(resource_type).values():
            assert RFC1035.match(resource["name"]) and "_" not in resource["name"], resource
    assert has(synth, "google_compute_network", {"name": "bake-sight-vpc"})
    assert has(synth, "google_sql_database_instance", {"name": "bake-sight-mysql"})
    assert has(synth, "google_compute_instance", {"name": "bake-sight-ai-01"})
    assert has(synth, "google_cloud_run_v2_service", {"name": "bake-sight-central"})
    assert has(synth, "google_artifact_registry_repository", {"repository_id": "bake-sight-repo"})


# --- APIs ----------------------------------------------------------------------------------------


def test_apis_are_enabled_first_and_kept_on_destroy(synth: Synth) -> None:
    services = synth.resources("google_project_service")
    enabled = {s["service"] for s in services.values()}
    assert {
        "run.googleapis.com",
        "cloudbuild.googleapis.com",
        "artifactregistry.googleapis.com",
        "sqladmin.googleapis.com",
        "secretmanager.googleapis.com",
        "compute.googleapis.com",
        "iap.googleapis.com",
    } <= enabled
    assert all(s["disable_on_destroy"] is False for s in services.values())
    vm = synth.resource("google_compute_instance", "ai-vm")
    assert "google_project_service.service-compute" in vm["depends_on"]
    # Terraform accepts only plain addresses in depends_on, never `${...}`.
    for resources in synth.doc["resource"].values():
        for resource in resources.values():
            assert not [d for d in resource.get("depends_on", []) if "${" in d], resource


# --- network and firewall ------------------------------------------------------------------------


def test_vm_subnet_has_private_google_access_and_nat_covers_only_it(synth: Synth) -> None:
    assert has(
        synth,
        "google_compute_subnetwork",
        {
            "name": "bake-sight-subnet",
            "ip_cidr_range": "10.10.0.0/24",
            "private_ip_google_access": True,
        },
    )
    nat = synth.resource("google_compute_router_nat", "nat")
    assert nat["source_subnetwork_ip_ranges_to_nat"] == "LIST_OF_SUBNETWORKS"
    assert [s["name"] for s in nat["subnetwork"]] == ["${google_compute_subnetwork.vm-subnet.id}"]


def test_ai_port_is_open_only_from_the_direct_vpc_egress_subnet(synth: Synth) -> None:
    run_subnet = synth.resource("google_compute_subnetwork", "run-subnet")
    rule = synth.resource("google_compute_firewall", "firewall-ai")
    assert rule["source_ranges"] == [run_subnet["ip_cidr_range"]] == ["10.10.1.0/24"]
    assert "source_tags" not in rule
    assert rule["allow"] == [{"protocol": "tcp", "ports": ["9000"]}]
    assert rule["target_tags"] == ["ai-infer"]


def test_ssh_is_open_only_from_iap(synth: Synth) -> None:
    rule = synth.resource("google_compute_firewall", "firewall-iap-ssh")
    assert rule["source_ranges"] == ["35.235.240.0/20"]
    assert rule["allow"] == [{"protocol": "tcp", "ports": ["22"]}]
    for firewall in synth.resources("google_compute_firewall").values():
        assert "0.0.0.0/0" not in firewall.get("source_ranges", [])


# --- buckets -------------------------------------------------------------------------------------


def test_buckets_are_private_uniform_and_destroyable(synth: Synth) -> None:
    buckets = synth.resources("google_storage_bucket")
    assert {b["name"] for b in buckets.values()} >= {
        f"{PROJECT}-bake-sight-tray",
        f"{PROJECT}-bake-sight-cctv",
        f"{PROJECT}-bake-sight-models",
    }
    for bucket in buckets.values():
        assert bucket["uniform_bucket_level_access"] is True
        assert bucket["public_access_prevention"] == "enforced"
        assert bucket["force_destroy"] is True
        assert bucket["location"] == "ASIA-NORTHEAST3"


def test_tray_and_cctv_delete_after_14_days_models_keeps(synth: Synth) -> None:
    delete_14 = [{"action": {"type": "Delete"}, "condition": {"age": 14}}]
    assert has(
        synth,
        "google_storage_bucket",
        {"name": f"{PROJECT}-bake-sight-tray", "lifecycle_rule": delete_14},
    )
    assert has(
        synth,
        "google_storage_bucket",
        {"name": f"{PROJECT}-bake-sight-cctv", "lifecycle_rule": delete_14},
    )
    assert "lifecycle_rule" not in synth.resource("google_storage_bucket", "bucket-models")


def test_bucket_access_is_granted_per_bucket(synth: Synth) -> None:
    grants = {
        (g["bucket"], g["role"], g["member"])
        for g in synth.resources("google_storage_bucket_iam_member").values()
    }
    assert grants == {
        (
            "${google_storage_bucket.bucket-tray.name}",
            "roles/storage.objectAdmin",
            "${google_service_account.sa-central.member}",
        ),
        (
            "${google_storage_bucket.bucket-cctv.name}",
            "roles/storage.objectAdmin",
            "${google_service_account.sa-central.member}",
        ),
        (
            "${google_storage_bucket.bucket-models.name}",
            "roles/storage.objectUser",
            "${google_service_account.sa-ai.member}",
        ),
        (
            "${google_storage_bucket.bucket-models.name}",
            "roles/storage.objectViewer",
            "${google_service_account.sa-ai.member}",
        ),
        (
            "${google_storage_bucket.bucket-builds.name}",
            "roles/storage.objectViewer",
            "${google_service_account.sa-builder.member}",
        ),
    }


# --- Cloud SQL -----------------------------------------------------------------------------------


def test_sql_is_mysql8_with_backups_and_no_open_network(synth: Synth) -> None:
    instance = synth.resource("google_sql_database_instance", "sql-instance")
    settings = instance["settings"]
    assert instance["database_version"] == "MYSQL_8_0"
    assert settings["backup_configuration"]["enabled"] is True
    assert settings["backup_configuration"]["binary_log_enabled"] is True
    assert "authorized_networks" not in settings["ip_configuration"]
    assert settings["ip_configuration"]["ssl_mode"] == "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"
    assert {"name": "local_infile", "value": "off"} in settings["database_flags"]
    assert has(synth, "google_sql_database", {"name": "bake_sight_demo", "charset": "utf8mb4"})
    assert has(
        synth,
        "google_sql_user",
        {"name": "demo", "password": "${random_password.sql-password.result}"},
    )


# --- secrets -------------------------------------------------------------------------------------


def test_secrets_exist_with_derived_values(synth: Synth) -> None:
    versions = {
        v["secret"]: v["secret_data"]
        for v in synth.resources("google_secret_manager_secret_version").values()
    }
    by_id = {
        s["secret_id"]: f"${{google_secret_manager_secret.{key}.id}}"
        for key, s in synth.resources("google_secret_manager_secret").items()
    }
    assert set(by_id) == {
        "BAKE_SIGHT_ADMIN_KEY",
        "BAKE_SIGHT_AI_ADMIN_KEY",
        "BAKE_SIGHT_STAFF_KEY",
        "BAKE_SIGHT_DATABASE_URL",
        "BAKE_SIGHT_AI_BASE_URL",
    }
    assert versions[by_id["BAKE_SIGHT_ADMIN_KEY"]] == "${random_password.admin-key.result}"
    assert versions[by_id["BAKE_SIGHT_AI_ADMIN_KEY"]] == "${random_password.ai-admin-key.result}"
    assert versions[by_id["BAKE_SIGHT_STAFF_KEY"]] == "${random_password.staff-key.result}"
    assert versions[by_id["BAKE_SIGHT_DATABASE_URL"]] == (
        "mysql+pymysql://demo:${random_password.sql-password.result}@/bake_sight_demo"
        "?unix_socket=/cloudsql/${google_sql_database_instance.sql-instance.connection_name}"
        "&charset=utf8mb4"
    )
    assert versions[by_id["BAKE_SIGHT_AI_BASE_URL"]] == (
        "http://${google_compute_address.ai-address.address}:9000"
    )


def test_each_secret_is_readable_only_by_its_readers(synth: Synth) -> None:
    readers: dict[str, set[str]] = {}
    for binding in synth.resources("google_secret_manager_secret_iam_member").values():
        assert binding["role"] == "roles/secretmanager.secretAccessor"
        secret = binding["secret_id"].split(".")[1]
        readers.setdefault(secret, set()).add(binding["member"].split(".")[1])
    assert readers == {
        "secret-bake-sight-admin-key": {"sa-central"},
        "secret-bake-sight-ai-admin-key": {"sa-central", "sa-ai"},
        "secret-bake-sight-staff-key": {"sa-central"},
        "secret-bake-sight-database-url": {"sa-central"},
        "secret-bake-sight-ai-base-url": {"sa-central"},
    }


def test_no_generated_secret_or_password_literal_in_the_json(synth: Synth) -> None:
    # Every sensitive value is made of references only, once the references are taken out.
    sensitive = [
        v["secret_data"] for v in synth.resources("google_secret_manager_secret_version").values()
    ]
    sensitive += [u["password"] for u in synth.resources("google_sql_user").values()]
    allowed = {
        "",
        "http://:9000",
        "mysql+pymysql://demo:@/bake_sight_demo?unix_socket=/cloudsql/&charset=utf8mb4",
    }
    assert sorted(REF.sub("", value) for value in sensitive) == sorted(
        # admin, AI admin and staff keys, the SQL password; the AI URL; the database URL
        ["", "", "", "", "http://:9000", *sorted(allowed - {"", "http://:9000"})]
    )
    # The same holds for any field named like a secret anywhere in the JSON.
    secret_fields = re.finditer(r'"(password|secret_data|root_password)":\s*"([^"]*)"', synth.text)
    for match in secret_fields:
        assert REF.sub("", match.group(2)) in allowed, match.group(0)
    # The keys are generated at apply: synth only declares their shape.
    for password in synth.resources("random_password").values():
        assert set(password) <= {"//", "length", "special", "depends_on"}
    assert "root_password" not in synth.resource("google_sql_database_instance", "sql-instance")
    for placeholder in ("<PASSWORD>", "<AI_ADMIN_KEY>", "<CENTRAL_ADMIN_KEY>", "DB_PASS"):
        assert placeholder not in synth.text


# --- service accounts ----------------------------------------------------------------------------


def test_service_accounts_have_only_their_project_roles(synth: Synth) -> None:
    roles: dict[str, set[str]] = {}
    for binding in synth.resources("google_project_iam_member").values():
        roles.setdefault(binding["member"], set()).add(binding["role"])
    assert roles.pop("${google_service_account.sa-central.member}") == {"roles/cloudsql.client"}
    assert roles.pop("${google_service_account.sa-ai.member}") == {
        "roles/logging.logWriter",
        "roles/monitoring.metricWriter",
    }
    assert roles.pop("${google_service_account.sa-builder.member}") == {"roles/logging.logWriter"}
    # What is left: the Compute Engine service agent, for the instance schedule only.
    assert list(roles.values()) == [{"${google_project_iam_custom_role.ai-schedule-role.name}"}]
    assert has(
        synth,
        "google_project_iam_custom_role",
        {"permissions": ["compute.instances.start", "compute.instances.stop"]},
    )
    sql_grant = synth.resource("google_project_iam_member", "sa-central-cloudsqlclient")
    assert "instances/bake-sight-mysql" in sql_grant["condition"]["expression"]
    assert has(
        synth,
        "google_artifact_registry_repository_iam_member",
        {
            "role": "roles/artifactregistry.writer",
            "member": "${google_service_account.sa-builder.member}",
        },
    )


# --- the GPU VM ----------------------------------------------------------------------------------


def test_gpu_vm_matches_the_runbook_without_external_ip(synth: Synth) -> None:
    assert has(
        synth,
        "google_compute_instance",
        {
            "machine_type": "n1-standard-4",
            "zone": "asia-northeast3-b",
            "guest_accelerator": [{"type": "nvidia-tesla-t4", "count": 1}],
            "scheduling": {"on_host_maintenance": "TERMINATE", "automatic_restart": True},
            "boot_disk": {
                "initialize_params": {
                    "size": 100,
                    "image": "projects/deeplearning-platform-release/global/images/family/"
                    "common-cu128-ubuntu-2204-nvidia-570",
                }
            },
            "tags": ["ai-infer"],
            "metadata": {"enable-oslogin": "TRUE", "block-project-ssh-keys": "TRUE"},
            "shielded_instance_config": {"enable_vtpm": True, "enable_integrity_monitoring": True},
            "service_account": {"email": "${google_service_account.sa-ai.email}"},
            "resource_policies": ["${google_compute_resource_policy.ai-schedule.id}"],
        },
    )
    vm = synth.resource("google_compute_instance", "ai-vm")
    for interface in vm["network_interface"]:
        assert "access_config" not in interface and "ipv6_access_config" not in interface
    assert (
        vm["network_interface"][0]["network_ip"] == "${google_compute_address.ai-address.address}"
    )
    assert has(synth, "google_compute_address", {"address_type": "INTERNAL"})


def test_vm_ships_the_ai_logs_and_metrics_through_the_ops_agent(synth: Synth) -> None:
    from stacks.ai_vm import OPS_AGENT_CONFIG

    vm = synth.resource("google_compute_instance", "ai-vm")
    script = vm["metadata"]["startup-script"]
    # The agent's configuration reaches the VM verbatim (Terraform interpolates none of it).
    assert OPS_AGENT_CONFIG.read_text().rstrip("\n") in script
    assert "OPS_AGENT_DIR='/etc/google-cloud-ops-agent'" in script
    assert "https://dl.google.com/cloudagents/add-google-cloud-ops-agent-repo.sh" in script
    # The agent writes as the VM's account, which may write logs and metrics and nothing more.
    assert vm["service_account"]["email"] == "${google_service_account.sa-ai.email}"
    assert vm["service_account"]["scopes"] == ["cloud-platform"]
    assert has(
        synth,
        "google_project_iam_member",
        {"member": "${google_service_account.sa-ai.member}", "role": "roles/logging.logWriter"},
    )
    assert has(
        synth,
        "google_project_iam_member",
        {
            "member": "${google_service_account.sa-ai.member}",
            "role": "roles/monitoring.metricWriter",
        },
    )


def test_gpu_vm_stops_outside_opening_hours(synth: Synth) -> None:
    assert has(
        synth,
        "google_compute_resource_policy",
        {
            "instance_schedule_policy": {
                "time_zone": "Asia/Seoul",
                "vm_start_schedule": {"schedule": "0 8 * * *"},
                "vm_stop_schedule": {"schedule": "0 22 * * *"},
            }
        },
    )
    vm = synth.resource("google_compute_instance", "ai-vm")
    assert "google_project_iam_member.ai-schedule-agent" in vm["depends_on"]
    # ... and on the wait for that grant to take effect (attaching the schedule sooner is a 412).
    assert "terraform_data.ai-schedule-agent-propagation" in vm["depends_on"]
    wait = synth.resource("terraform_data", "ai-schedule-agent-propagation")
    assert wait["depends_on"] == ["google_project_iam_member.ai-schedule-agent"]
    assert wait["provisioner"][0]["local-exec"]["command"] == "sleep 120"


def test_vm_installs_the_uploaded_archive_and_reads_its_key_at_boot(synth: Synth) -> None:
    obj = synth.resource("google_storage_bucket_object", "ai-archive-object")
    assert obj["bucket"] == "${google_storage_bucket.bucket-models.name}"
    assert re.fullmatch(r"ai-inference/ai-inference-[0-9a-f]{12}\.tar\.gz", obj["name"])
    assert obj["source"].startswith("assets/ai-archive/")
    vm = synth.resource("google_compute_instance", "ai-vm")
    script = vm["metadata"]["startup-script"]
    assert (
        "ARCHIVE_URI='gs://${google_storage_bucket.bucket-models.name}/"
        "${google_storage_bucket_object.ai-archive-object.name}'" in script
    )
    assert (
        "SECRET_VERSION='${google_secret_manager_secret_version."
        "secret-bake-sight-ai-admin-key-version.version}'" in script
    )
    assert 'gcloud storage cp "$ARCHIVE_URI"' in script
    assert "gcloud secrets versions access" in script
    assert "ENV_FILE='/etc/ai-inference.env'" in script
    # The product gallery lives in the models bucket, where the AI may write under gallery/ only.
    assert re.search(r"GALLERY_URI='gs://[a-z0-9-]+-models/gallery/gallery\.pt'", script)
    # AI_DEVICE=cuda: a torch that cannot see the T4 stops the service instead of using the CPU;
    # the project names the trace in the AI's log lines, as GOOGLE_CLOUD_PROJECT does Central's.
    assert (
        "AI_ADMIN_KEY=%s\\nAI_GALLERY=%s\\nAI_DEVICE=cuda\\nAI_GOOGLE_CLOUD_PROJECT=%s\\n" in script
    )
    assert f"PROJECT='{PROJECT}'" in script
    assert "TORCH_INDEX_URL='https://download.pytorch.org/whl/cu128'" in script
    assert "APP_LINK='/opt/ai-inference'" in script and "UNIT_DIR='/etc/systemd/system'" in script
    assert "bash scripts/install_ai.sh" in script and "scp" not in script
    # (What the script does at boot is tested by simulated boots in test_vm_startup.py.)
    assert "google_storage_bucket_object.ai-archive-object" in vm["depends_on"]
    assert "google_compute_router_nat.nat" in vm["depends_on"]
    assert "google_storage_bucket_iam_member.bucket-models-objectViewer-ai" in vm["depends_on"]
    # Terraform's references are the only `${` in it, and bash can parse what remains.
    bash_text = REF.sub("VALUE", script)
    assert "${" not in bash_text and "%{" not in bash_text
    subprocess.run(["bash", "-n"], input=bash_text, text=True, check=True)


def test_ai_archive_is_built_from_the_repo(synth: Synth) -> None:
    import tarfile

    with tarfile.open(synth.work_dir / "ai-inference.tar.gz") as tar:
        names = tar.getnames()
    assert {
        "scripts/install_ai.sh",
        "systemd/ai-inference.service",
        "noxfile.py",
        "ai/smoke.py",
        "ai/smoke_samples/manifest.json",
    } <= set(names)


# --- Central on Cloud Run ------------------------------------------------------------------------


def test_central_runs_with_direct_vpc_egress_sql_socket_and_probe(synth: Synth) -> None:
    assert has(
        synth,
        "google_cloud_run_v2_service",
        {
            "location": "asia-northeast3",
            "ingress": "INGRESS_TRAFFIC_ALL",
            "template": {
                "service_account": "${google_service_account.sa-central.email}",
                "vpc_access": {
                    "egress": "PRIVATE_RANGES_ONLY",
                    "network_interfaces": [
                        {
                            "network": "${google_compute_network.network.id}",
                            "subnetwork": "${google_compute_subnetwork.run-subnet.id}",
                        }
                    ],
                },
                "volumes": [
                    {
                        "name": "cloudsql",
                        "cloud_sql_instance": {
                            "instances": [
                                "${google_sql_database_instance.sql-instance.connection_name}"
                            ]
                        },
                    }
                ],
                "containers": [
                    {
                        "ports": {"container_port": 8080},
                        "volume_mounts": [{"name": "cloudsql", "mount_path": "/cloudsql"}],
                        "startup_probe": {"http_get": {"path": "/ready", "port": 8080}},
                    }
                ],
            },
        },
    )


def test_central_reads_pinned_secret_versions_as_env(synth: Synth) -> None:
    container = synth.resource("google_cloud_run_v2_service", "central")["template"]["containers"][
        0
    ]
    env = {e["name"]: e for e in container["env"]}
    assert set(env) == {
        "ADMIN_KEY",
        "AI_ADMIN_KEY",
        "DATABASE_URL",
        "AI_BASE_URL",
        "STAFF_KEY",
        "CREATE_TABLES",
        "GOOGLE_CLOUD_PROJECT",
        "TRAY_ARCHIVE",
    }
    assert env["GOOGLE_CLOUD_PROJECT"]["value"] == PROJECT
    # Frames kept as evidence go to the tray bucket, whose lifecycle is their retention.
    tray_bucket = next(
        b["name"] for b in synth.resources("google_storage_bucket").values() if "tray" in b["name"]
    )
    assert env["TRAY_ARCHIVE"]["value"] == f"gs://{tray_bucket}/trays"
    assert "PORT" not in env  # Cloud Run sets it and refuses it as a declared variable
    assert env["CREATE_TABLES"]["value"] == "1"
    expected = {
        "ADMIN_KEY": "secret-bake-sight-admin-key",
        "AI_ADMIN_KEY": "secret-bake-sight-ai-admin-key",
        "DATABASE_URL": "secret-bake-sight-database-url",
        "AI_BASE_URL": "secret-bake-sight-ai-base-url",
        "STAFF_KEY": "secret-bake-sight-staff-key",
    }
    for name, key in expected.items():
        ref = env[name]["value_source"]["secret_key_ref"]
        assert ref["secret"] == f"${{google_secret_manager_secret.{key}.secret_id}}"
        assert ref["version"] == f"${{google_secret_manager_secret_version.{key}-version.version}}"


def test_central_is_public_and_waits_for_its_grants_and_image(synth: Synth) -> None:
    assert has(
        synth,
        "google_cloud_run_v2_service_iam_member",
        {"role": "roles/run.invoker", "member": "allUsers"},
    )
    service = synth.resource("google_cloud_run_v2_service", "central")
    assert "terraform_data.central-image-build" in service["depends_on"]
    assert "google_project_iam_member.sa-central-cloudsqlclient" in service["depends_on"]
    assert (
        "google_secret_manager_secret_iam_member.secret-bake-sight-database-url-accessor-central"
        in service["depends_on"]
    )
    assert service["deletion_protection"] is False


def test_central_image_is_built_by_cloud_build_from_the_uploaded_source(synth: Synth) -> None:
    build = synth.resource("terraform_data", "central-image-build")
    image = build["triggers_replace"][0]
    assert re.fullmatch(
        rf"asia-northeast3-docker\.pkg\.dev/{PROJECT}/bake-sight-repo/central:[0-9a-f]{{12}}", image
    )
    container = synth.resource("google_cloud_run_v2_service", "central")["template"]["containers"][
        0
    ]
    assert container["image"] == image
    command = build["provisioner"][0]["local-exec"]["command"]
    assert command.startswith(
        "gcloud builds submit gs://${google_storage_bucket.bucket-builds.name}"
    )
    assert f"--substitutions=_IMAGE={image}" in command
    assert "--config=assets/central-cloudbuild/" in command
    assert "${google_service_account.sa-builder.email}" in command


def test_given_image_skips_the_build_and_protection_is_configurable(
    synth_with_image: Synth,
) -> None:
    assert "central-image-build" not in synth_with_image.resources("terraform_data")
    assert "builder-grants-propagation" not in synth_with_image.resources("terraform_data")
    service = synth_with_image.resource("google_cloud_run_v2_service", "central")
    container = service["template"]["containers"][0]
    assert container["image"] == "asia-northeast3-docker.pkg.dev/other/repo/central:v1"
    assert {"name": "CREATE_TABLES", "value": "0"} in container["env"]
    assert service["deletion_protection"] is True
    sql = synth_with_image.resource("google_sql_database_instance", "sql-instance")
    assert sql["deletion_protection"] is True
    assert sql["settings"]["deletion_protection_enabled"] is True
    assert synth_with_image.resource("google_compute_instance", "ai-vm")["deletion_protection"]


# --- outputs -------------------------------------------------------------------------------------


def test_outputs(synth: Synth) -> None:
    outputs = synth.doc["output"]
    assert outputs["central_url"]["value"] == "${google_cloud_run_v2_service.central.uri}"
    assert outputs["ai_internal_ip"]["value"] == "${google_compute_address.ai-address.address}"
    assert outputs["sql_connection_name"]["value"] == (
        "${google_sql_database_instance.sql-instance.connection_name}"
    )
    for bucket in ("tray", "cctv", "models"):
        assert (
            outputs[f"bucket_{bucket}"]["value"]
            == f"${{google_storage_bucket.bucket-{bucket}.name}}"
        )


def test_the_ai_may_write_only_its_gallery_in_the_models_bucket(synth: Synth) -> None:
    [writer] = [
        g
        for g in synth.resources("google_storage_bucket_iam_member").values()
        if g["role"] == "roles/storage.objectUser"
    ]
    assert writer["member"] == "${google_service_account.sa-ai.member}"
    assert writer["condition"]["expression"].startswith(
        'resource.name.startsWith("projects/_/buckets/'
    )
    assert writer["condition"]["expression"].endswith('/objects/gallery/")')


# --- the dependency graph: what an empty project needs first ---------------------------------

ADDRESS = re.compile(r"\$\{(data\.)?([a-z0-9_]+)\.([A-Za-z0-9_-]+)")


def graph(synth: Synth) -> dict[str, set[str]]:
    """address -> the addresses it waits for (depends_on and references in its values)."""
    nodes: dict[str, set[str]] = {}
    for kind, section in (("", "resource"), ("data.", "data")):
        for resource_type, resources in synth.doc.get(section, {}).items():
            for name, body in resources.items():
                refs = {f"{d or ''}{t}.{n}" for d, t, n in ADDRESS.findall(json.dumps(body))} | set(
                    body.get("depends_on", [])
                )
                nodes[f"{kind}{resource_type}.{name}"] = refs
    return nodes


def waits_for(nodes: dict[str, set[str]], start: str, target: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        if node == target:
            return True
        if node not in seen:
            seen.add(node)
            todo.extend(nodes.get(node, ()))
    return False


def test_every_dependency_exists_and_there_is_no_cycle(synth: Synth) -> None:
    nodes = graph(synth)
    for node, deps in nodes.items():
        missing = {d for d in deps if d not in nodes and not d.startswith(("var.", "local."))}
        assert not missing, f"{node} depends on what the stack does not declare: {missing}"
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == 1:
            raise AssertionError(f"dependency cycle: {' -> '.join([*path, node])}")
        if state.get(node) == 2:
            return
        state[node] = 1
        for dep in nodes.get(node, ()):
            visit(dep, [*path, node])
        state[node] = 2

    for node in nodes:
        visit(node, [])


def test_cloud_run_starts_after_its_database_and_user_exist(synth: Synth) -> None:
    service = synth.resource("google_cloud_run_v2_service", "central")
    assert "google_sql_database.sql-database" in service["depends_on"]
    assert "google_sql_user.sql-user" in service["depends_on"]


def test_the_project_is_read_after_resource_manager_is_enabled(synth: Synth) -> None:
    project = synth.doc["data"]["google_project"]["project"]
    assert "google_project_service.service-cloudresourcemanager" in project["depends_on"]
    nodes = graph(synth)
    assert waits_for(
        nodes, "google_project_iam_member.ai-schedule-agent", "data.google_project.project"
    )


def test_the_image_build_waits_for_the_builder_grants_to_take_effect(synth: Synth) -> None:
    build = synth.resource("terraform_data", "central-image-build")
    assert "terraform_data.builder-grants-propagation" in build["depends_on"]
    wait = synth.resource("terraform_data", "builder-grants-propagation")
    writer = "google_artifact_registry_repository_iam_member.registry-writer-builder"
    assert writer in wait["depends_on"]
    assert (
        "google_storage_bucket_iam_member.bucket-builds-objectViewer-builder"
        in (wait["depends_on"])
    )
    assert f"${{{writer}.id}}" in wait["triggers_replace"]


def test_cloud_build_runs_where_new_projects_may_and_stages_in_the_stacks_bucket(
    synth: Synth,
) -> None:
    command = synth.resource("terraform_data", "central-image-build")["provisioner"][0][
        "local-exec"
    ]["command"]
    assert "--region=asia-east1" in command
    assert "--gcs-source-staging-dir=gs://${google_storage_bucket.bucket-builds.name}/staging" in (
        command
    )
    # The image still lands in Seoul.
    assert "_IMAGE=asia-northeast3-docker.pkg.dev/" in command


def test_the_schedule_role_id_is_new_for_every_deploy(synth: Synth) -> None:
    role = synth.resource("google_project_iam_custom_role", "ai-schedule-role")
    assert role["role_id"] == (
        "bake_sight_instance_scheduler_${random_id.ai-schedule-role-suffix.hex}"
    )
    assert synth.resource("random_id", "ai-schedule-role-suffix")["byte_length"] == 3


def test_the_registry_cleanup_deletes_old_versions_but_keeps_recent_ones(synth: Synth) -> None:
    repo = synth.resource("google_artifact_registry_repository", "registry")
    policies = {p["id"]: p for p in repo["cleanup_policies"]}
    assert policies["delete-old"]["action"] == "DELETE"
    assert policies["delete-old"]["condition"] == {"tag_state": "ANY", "older_than": "604800s"}
    assert policies["keep-recent"]["action"] == "KEEP"
    assert policies["keep-recent"]["most_recent_versions"]["keep_count"] >= 2
    assert repo["cleanup_policy_dry_run"] is False


def test_state_lives_in_the_projects_versioned_state_bucket(synth: Synth) -> None:
    assert synth.doc["terraform"]["backend"] == {
        "gcs": {"bucket": f"{PROJECT}-bake-sight-tfstate", "prefix": "bakesight"}
    }
    # The stack never manages its own state bucket (destroy would delete the state mid-way).
    names = {b["name"] for b in synth.resources("google_storage_bucket").values()}
    assert f"{PROJECT}-bake-sight-tfstate" not in names


def test_the_vm_image_driver_runs_the_cuda_of_the_torch_it_installs() -> None:
    from pathlib import Path

    from stacks.ai_vm import IMAGE_FAMILY, TORCH_INDEX_URL

    # NVIDIA's minimum Linux driver per CUDA toolkit (CUDA Toolkit release notes, table 3).
    max_cuda_for_driver = {570: (12, 8), 575: (12, 9), 580: (13, 0)}
    driver = int(re.search(r"nvidia-(\d+)$", IMAGE_FAMILY).group(1))  # type: ignore[union-attr]
    cu = re.search(r"/cu(\d+)(\d)$", TORCH_INDEX_URL)
    assert cu, TORCH_INDEX_URL
    assert (int(cu.group(1)), int(cu.group(2))) <= max_cuda_for_driver[driver]
    # The image's own CUDA is the same line, and install_ai.sh defaults to the same index.
    assert f"cu{cu.group(1)}{cu.group(2)}" in IMAGE_FAMILY
    script = (Path(__file__).resolve().parents[2] / "scripts" / "install_ai.sh").read_text()
    assert f'TORCH_INDEX_URL="${{TORCH_INDEX_URL:-{TORCH_INDEX_URL}}}"' in script
