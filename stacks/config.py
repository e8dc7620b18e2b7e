"""The stack's configuration, from cdktf.json context or the environment, validated before synth.

Validation lives here, not in GCP: a name GCP rejects (the runbook's `bake_sight-vpc` has an
underscore) should stop `cdktf synth` with one line naming the setting to change, not fail halfway
through `terraform apply` after half the project exists.

Imports nothing from cdktf: a bad configuration is reported without loading the provider bindings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stacks.zones import DEFAULT_BUILD_REGION, UNRESTRICTED_BUILD_REGIONS, accelerator_problem

ENV_PREFIX = "BAKESIGHT_"

# Every setting: context key -> (default, what it is). `None` as default means required.
SETTINGS: dict[str, tuple[str | None, str]] = {
    "project_id": (None, "the GCP project id to deploy into"),
    "region": ("asia-northeast3", "region of every regional resource"),
    "zone": ("asia-northeast3-b", "zone of the GPU VM (must offer its GPU: stacks/zones.py)"),
    "prefix": ("bake-sight", "prefix of every resource name"),
    "central_image": ("", "Central's image; empty: Cloud Build builds central/Dockerfile"),
    "build_region": (DEFAULT_BUILD_REGION, "where Cloud Build builds Central's image"),
    "opening_hours": ("08:00-22:00", "HH:MM-HH:MM the GPU VM runs; it is stopped outside them"),
    "time_zone": ("Asia/Seoul", "IANA time zone of opening_hours"),
    "deletion_protection": ("false", "protect Cloud SQL, the VM and Cloud Run from destroy"),
    "create_tables": ("true", "let Central create its tables at start (CREATE_TABLES)"),
}

# Hex characters of the random suffix on the custom role id (see ResourceNames.scheduler_role).
ROLE_SUFFIX_CHARS = 6

# RFC 1035 labels: what Compute Engine, Cloud SQL, Cloud Run and Artifact Registry accept.
_RFC1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
_BUCKET = re.compile(r"^[a-z0-9][-a-z0-9_]{1,61}[a-z0-9]$")
_HOURS = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-3]):([0-5][0-9])$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(ValueError):
    """A configuration problem, worded for the person running synth (one line)."""


@dataclass(frozen=True)
class OpeningHours:
    """When the GPU VM runs: started at `start`, stopped at `stop`, every day, in `time_zone`."""

    start: str
    stop: str
    time_zone: str

    @property
    def start_cron(self) -> str:
        return _cron(self.start)

    @property
    def stop_cron(self) -> str:
        return _cron(self.stop)


@dataclass(frozen=True)
class ResourceNames:
    """Every GCP name the stack creates, derived from the prefix and checked against GCP's rules."""

    repository: str
    network: str
    vm_subnet: str
    run_subnet: str
    router: str
    nat: str
    firewall_ai: str
    firewall_iap_ssh: str
    sql_instance: str
    central_service: str
    ai_vm: str
    ai_address: str
    ai_schedule: str
    central_account: str
    ai_account: str
    builder_account: str
    scheduler_role: str  # custom role ids: letters, digits, _ and .
    bucket_tray: str
    bucket_cctv: str
    bucket_models: str
    bucket_builds: str
    # Terraform's state: created by `nox -s deploy` before the first apply, never by the stack.
    bucket_state: str
    # MySQL names, not GCP resource names: underscores are fine here (runbook values).
    database: str = "bake_sight_demo"
    database_user: str = "demo"

    @classmethod
    def derive(cls, project_id: str, prefix: str) -> ResourceNames:
        p = prefix
        return cls(
            repository=f"{p}-repo",
            network=f"{p}-vpc",
            vm_subnet=f"{p}-subnet",
            run_subnet=f"{p}-run-subnet",
            router=f"{p}-router",
            nat=f"{p}-nat",
            firewall_ai=f"{p}-allow-ai-from-central-run",
            firewall_iap_ssh=f"{p}-allow-ssh-from-iap",
            sql_instance=f"{p}-mysql",
            central_service=f"{p}-central",
            ai_vm=f"{p}-ai-01",
            ai_address=f"{p}-ai-01-ip",
            ai_schedule=f"{p}-ai-opening-hours",
            central_account=f"{p}-central-run",
            ai_account=f"{p}-ai-vm",
            builder_account=f"{p}-builder",
            # The stack appends a random suffix: a deleted custom role id stays reserved for up to
            # 37 days, so a fixed id would make every redeploy after a destroy fail.
            scheduler_role=p.replace("-", "_") + "_instance_scheduler",
            bucket_tray=f"{project_id}-{p}-tray",
            bucket_cctv=f"{project_id}-{p}-cctv",
            bucket_models=f"{project_id}-{p}-models",
            bucket_builds=f"{project_id}-{p}-builds",
            bucket_state=f"{project_id}-{p}-tfstate",
        )

    def problems(self) -> list[str]:
        """Each name GCP would reject, with the rule it breaks."""
        label = "lowercase letters, digits and hyphens, starting with a letter"
        rules: list[tuple[str, Callable[[str], bool], str]] = [
            (attr, _rfc1035(63), f"{label}, at most 63 characters")
            for attr in (
                "network",
                "vm_subnet",
                "run_subnet",
                "router",
                "nat",
                "firewall_ai",
                "firewall_iap_ssh",
                "ai_vm",
                "ai_address",
                "ai_schedule",
                "repository",
            )
        ]
        rules.append(("sql_instance", _rfc1035(84), f"{label}, at most 84 characters"))
        rules.append(("central_service", _rfc1035(49), f"{label}, at most 49 characters"))
        rules += [
            (attr, _account_id, f"{label}, 6 to 30 characters")
            for attr in ("central_account", "ai_account", "builder_account")
        ]
        rules += [
            (attr, _bucket, "lowercase letters, digits, - and _, 3 to 63 characters, no 'goog'")
            for attr in (
                "bucket_tray",
                "bucket_cctv",
                "bucket_models",
                "bucket_builds",
                "bucket_state",
            )
        ]
        rules.append(
            (
                "scheduler_role",
                _custom_role_id,
                f"letters, digits, _ and ., 3 to {64 - ROLE_SUFFIX_CHARS - 1} characters "
                "before the stack's random suffix",
            )
        )
        return [
            f"{attr} {getattr(self, attr)!r} is not a valid GCP name ({rule})"
            for attr, ok, rule in rules
            if not ok(getattr(self, attr))
        ]


@dataclass(frozen=True)
class StackConfig:
    """What the stack needs from its operator; everything else is derived."""

    project_id: str
    region: str = "asia-northeast3"
    zone: str = "asia-northeast3-b"
    prefix: str = "bake-sight"
    central_image: str = ""
    build_region: str = DEFAULT_BUILD_REGION
    opening_hours: OpeningHours = field(
        default_factory=lambda: OpeningHours("08:00", "22:00", "Asia/Seoul")
    )
    deletion_protection: bool = False
    create_tables: bool = True
    # Network layout: the VM's subnet and a dedicated one for Cloud Run's Direct VPC egress, so the
    # AI firewall rule can name exactly the addresses Cloud Run uses (Direct VPC egress needs /26+).
    vm_subnet_range: str = "10.10.0.0/24"
    run_subnet_range: str = "10.10.1.0/24"
    ai_port: int = 9000
    # Sizes, read by the stack and by `nox -s cost` (which must not load the provider bindings).
    machine_type: str = "n1-standard-4"
    accelerator: str = "nvidia-tesla-t4"
    boot_disk_gb: int = 100
    # Smallest tier that runs the demo; shared-core tiers exist only in the Enterprise edition.
    sql_tier: str = "db-g1-small"
    sql_disk_gb: int = 10

    @property
    def names(self) -> ResourceNames:
        return ResourceNames.derive(self.project_id, self.prefix)

    @property
    def builds_central(self) -> bool:
        """True when the stack itself builds Central's image (no image was given)."""
        return not self.central_image


def load_config(context: Callable[[str], Any], environ: Mapping[str, str]) -> StackConfig:
    """Read every setting (environment `BAKESIGHT_<KEY>` wins over cdktf.json context).

    Raises ConfigError naming everything that is missing or invalid, in one line.
    """
    raw: dict[str, str] = {}
    missing: list[str] = []
    for key, (default, _) in SETTINGS.items():
        env_key = ENV_PREFIX + key.upper()
        value = environ.get(env_key)
        if value is None:
            ctx = context(key)
            value = None if ctx is None else str(ctx).lower() if isinstance(ctx, bool) else str(ctx)
        if value is None or (default is None and not value.strip()):
            if default is None:
                missing.append(f'{key} (set {env_key} or "{key}" in cdktf.json context)')
                continue
            value = default
        raw[key] = value.strip()
    if missing:
        raise ConfigError("missing configuration: " + "; ".join(missing))

    problems: list[str] = []
    project_id = raw["project_id"]
    if not _PROJECT_ID.match(project_id):
        problems.append(
            f"project_id {project_id!r} is not a GCP project id (6 to 30 lowercase letters, "
            "digits or hyphens, starting with a letter)"
        )
    region, zone = raw["region"], raw["zone"]
    if not _REGION.match(region):
        problems.append(f"region {region!r} is not a GCP region name like asia-northeast3")
    if not re.fullmatch(rf"{re.escape(region)}-[a-z]", zone):
        problems.append(f"zone {zone!r} is not a zone of region {region!r} (like {region}-b)")
    else:
        gpu_problem = accelerator_problem(StackConfig.accelerator, zone)
        if gpu_problem:
            problems.append(gpu_problem)
    build_region = raw["build_region"]
    if build_region not in UNRESTRICTED_BUILD_REGIONS:
        problems.append(
            f"build_region {build_region!r} may refuse builds in a new project; use one of "
            f"{', '.join(sorted(UNRESTRICTED_BUILD_REGIONS))}"
        )
    prefix = raw["prefix"]
    if not _RFC1035.match(prefix):
        problems.append(
            f"prefix {prefix!r} is not valid in GCP names: use lowercase letters, digits and "
            "hyphens, starting with a letter (e.g. 'bake-sight', not 'bake_sight')"
        )
    hours = _HOURS.match(raw["opening_hours"])
    if not hours:
        problems.append(f"opening_hours {raw['opening_hours']!r} is not HH:MM-HH:MM")
    elif raw["opening_hours"][:5] == raw["opening_hours"][6:]:
        problems.append("opening_hours start and stop are the same time")
    if not re.fullmatch(r"[A-Za-z_]+(/[A-Za-z0-9_+-]+)*", raw["time_zone"]):
        problems.append(f"time_zone {raw['time_zone']!r} is not an IANA zone like Asia/Seoul")
    flags: dict[str, bool] = {}
    for key in ("deletion_protection", "create_tables"):
        value = raw[key].lower()
        if value not in _TRUE | _FALSE:
            problems.append(f"{key} {raw[key]!r} is not true or false")
        flags[key] = value in _TRUE
    image = raw["central_image"]
    if image and (any(c.isspace() for c in image) or "/" not in image):
        problems.append(f"central_image {image!r} is not a container image reference")
    if problems:
        raise ConfigError("invalid configuration: " + "; ".join(problems))

    config = StackConfig(
        project_id=project_id,
        region=region,
        zone=zone,
        prefix=prefix,
        central_image=image,
        build_region=build_region,
        opening_hours=OpeningHours(
            raw["opening_hours"][:5], raw["opening_hours"][6:], raw["time_zone"]
        ),
        deletion_protection=flags["deletion_protection"],
        create_tables=flags["create_tables"],
    )
    name_problems = config.names.problems()
    if name_problems:
        raise ConfigError(
            "invalid resource names (shorten or fix prefix/project_id): " + "; ".join(name_problems)
        )
    return config


def _cron(hh_mm: str) -> str:
    hours, minutes = hh_mm.split(":")
    return f"{int(minutes)} {int(hours)} * * *"


def _rfc1035(max_len: int) -> Callable[[str], bool]:
    return lambda value: len(value) <= max_len and bool(_RFC1035.match(value))


def _account_id(value: str) -> bool:
    return 6 <= len(value) <= 30 and bool(_RFC1035.match(value))


def _custom_role_id(value: str) -> bool:
    return bool(re.fullmatch(rf"[a-zA-Z0-9_.]{{3,{64 - ROLE_SUFFIX_CHARS - 1}}}", value))


def _bucket(value: str) -> bool:
    return bool(_BUCKET.match(value)) and not value.startswith("goog") and "google" not in value
