"""Cloud SQL for MySQL 8: instance, database and user, with a generated password.

The password comes from `random_password`: the synthesized JSON only holds a reference to it, and
its value lives in Terraform state (keep the state private) and in the DATABASE_URL secret.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf_cdktf_provider_google.sql_database import SqlDatabase
from cdktf_cdktf_provider_google.sql_database_instance import (
    SqlDatabaseInstance,
    SqlDatabaseInstanceSettings,
    SqlDatabaseInstanceSettingsBackupConfiguration,
    SqlDatabaseInstanceSettingsBackupConfigurationBackupRetentionSettings,
    SqlDatabaseInstanceSettingsDatabaseFlags,
    SqlDatabaseInstanceSettingsIpConfiguration,
)
from cdktf_cdktf_provider_google.sql_user import SqlUser
from cdktf_cdktf_provider_random.password import Password
from constructs import Construct


@dataclass(frozen=True)
class SqlConfig:
    project_id: str
    region: str
    instance_name: str
    database_name: str
    user_name: str
    deletion_protection: bool
    tier: str  # StackConfig.sql_tier
    disk_gb: int
    database_version: str = "MYSQL_8_0"


@dataclass(frozen=True)
class SqlOutput:
    instance: SqlDatabaseInstance
    database: SqlDatabase
    user: SqlUser
    password: Password

    @property
    def connection_name(self) -> str:
        return self.instance.connection_name


def sql(scope: Construct, config: SqlConfig) -> SqlOutput:
    password = Password(
        scope,
        "sql-password",
        length=32,
        # Letters and digits only: the password is embedded in DATABASE_URL, which must not need
        # URL escaping to be parsed by Central.
        special=False,
    )
    instance = SqlDatabaseInstance(
        scope,
        "sql-instance",
        project=config.project_id,
        region=config.region,
        name=config.instance_name,
        database_version=config.database_version,
        deletion_protection=config.deletion_protection,
        settings=SqlDatabaseInstanceSettings(
            tier=config.tier,
            edition="ENTERPRISE",
            availability_type="ZONAL",
            disk_size=config.disk_gb,
            disk_type="PD_SSD",
            disk_autoresize=True,
            deletion_protection_enabled=config.deletion_protection,
            backup_configuration=SqlDatabaseInstanceSettingsBackupConfiguration(
                enabled=True,
                binary_log_enabled=True,
                start_time="18:00",  # 03:00 in Seoul, after closing
                backup_retention_settings=(
                    SqlDatabaseInstanceSettingsBackupConfigurationBackupRetentionSettings(
                        retained_backups=7
                    )
                ),
            ),
            # Cloud Run reaches the instance through the Cloud SQL connector (the /cloudsql socket),
            # which authenticates with IAM and encrypts; no network is authorized to connect
            # directly. A private IP would need Private Service Access peering, which outlives
            # `destroy` and blocks deleting the VPC.
            ip_configuration=SqlDatabaseInstanceSettingsIpConfiguration(
                ipv4_enabled=True,
                # Only clients with a Cloud SQL certificate, which the connector has and nobody
                # else does.
                ssl_mode="TRUSTED_CLIENT_CERTIFICATE_REQUIRED",
            ),
            database_flags=[
                SqlDatabaseInstanceSettingsDatabaseFlags(name="local_infile", value="off"),
                SqlDatabaseInstanceSettingsDatabaseFlags(name="skip_show_database", value="on"),
            ],
        ),
    )
    database = SqlDatabase(
        scope,
        "sql-database",
        project=config.project_id,
        instance=instance.name,
        name=config.database_name,
        charset="utf8mb4",
        collation="utf8mb4_0900_ai_ci",
    )
    user = SqlUser(
        scope,
        "sql-user",
        project=config.project_id,
        instance=instance.name,
        name=config.user_name,
        password=password.result,
    )
    return SqlOutput(instance=instance, database=database, user=user, password=password)
