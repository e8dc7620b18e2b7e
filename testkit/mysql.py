"""Find a real MySQL server for the integration tests — never a mock, never a silent skip.

In order: BAKESIGHT_TEST_MYSQL_URL (a server you run) → testcontainers MySQL 8 when a Docker
daemon answers → a throwaway mariadbd/mysqld from PATH in a temporary data dir → a clear failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import pymysql

ENV_URL = "BAKESIGHT_TEST_MYSQL_URL"
HOW_TO = (
    "No MySQL server for the integration tests. Give one of: "
    f"(1) {ENV_URL}=mysql://user:password@host:3306/ pointing at a server you run; "
    "(2) a running Docker daemon, so testcontainers can start mysql:8.0; "
    "(3) mariadbd or mysqld on PATH (e.g. `apt-get install mariadb-server`) for a throwaway server."
)


class NoMySQLServer(RuntimeError):
    pass


@dataclass(frozen=True)
class MySQLServer:
    host: str
    port: int
    user: str
    password: str
    kind: str  # env, testcontainers or throwaway
    unix_socket: str | None = None

    def url(self, database: str, scheme: str = "mysql+pymysql") -> str:
        return f"{scheme}://{quote(self.user)}:{quote(self.password)}@{self.host}:{self.port}/{database}"

    def socket_url(self, database: str) -> str:
        """The runbook's Cloud SQL form: no host, the socket in the query, utf8mb4."""
        assert self.unix_socket
        return (
            f"mysql+pymysql://{quote(self.user)}:{quote(self.password)}@/{database}"
            f"?unix_socket={self.unix_socket}&charset=utf8mb4"
        )

    def connect(self, database: str | None = None) -> pymysql.Connection:
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=database,
            autocommit=True,
            charset="utf8mb4",
        )

    def create_database(self, prefix: str = "bakesight") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with contextlib.closing(self.connect()) as conn, conn.cursor() as cur:
            cur.execute(
                f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
        return name


@contextlib.contextmanager
def mysql_server() -> Iterator[MySQLServer]:
    url = os.environ.get(ENV_URL)
    if url:
        parts = urlsplit(url)
        yield MySQLServer(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 3306,
            user=parts.username or "root",
            password=parts.password or "",
            kind="env",
        )
        return
    if _docker_answers():
        with _testcontainers_mysql() as server:
            yield server
        return
    binary = _find_binary()
    if binary:
        with _throwaway(binary) as server:
            yield server
        return
    raise NoMySQLServer(HOW_TO)


def _docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:
        return False


@contextlib.contextmanager
def _testcontainers_mysql() -> Iterator[MySQLServer]:
    from testcontainers.mysql import MySqlContainer

    with MySqlContainer(
        "mysql:8.0", username="bakesight", password="bakesight-test", dbname="bakesight"
    ) as c:
        host, port = c.get_container_host_ip(), int(c.get_exposed_port(3306))
        yield MySQLServer(host, port, "root", "bakesight-test", "testcontainers")


def _find_binary() -> str | None:
    for name in ("mariadbd", "mysqld"):
        found = shutil.which(name)
        if found:
            return found
        for directory in ("/usr/sbin", "/usr/local/sbin"):  # not on every user's PATH
            candidate = Path(directory) / name
            if candidate.exists():
                return str(candidate)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThrowawayServer:
    """A private mariadbd/mysqld in a temporary data dir, which a test may kill and restart.

    `kill()` is SIGKILL (a crash, as Cloud SQL's failover looks to clients); `start()` brings the
    same data dir back on the same port and socket, after crash recovery.
    """

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.tmp = Path(tempfile.mkdtemp(prefix="bakesight-mysql-"))
        self.datadir, self.sock, self.port = (
            self.tmp / "data",
            self.tmp / "mysql.sock",
            _free_port(),
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.password = uuid.uuid4().hex
        self._log = open(self.tmp / "server.log", "ab")
        self._as_root = ["--user=root"] if os.geteuid() == 0 else []

    def initialize(self) -> MySQLServer:
        """Create the data dir, start, and add the `bakesight` user; the server to connect to."""
        installer = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
        if installer:
            subprocess.run(
                [
                    installer,
                    "--no-defaults",
                    f"--datadir={self.datadir}",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                    *self._as_root,
                ],
                check=True,
                capture_output=True,
            )
        else:  # MySQL proper
            subprocess.run(
                [
                    self.binary,
                    "--no-defaults",
                    "--initialize-insecure",
                    f"--datadir={self.datadir}",
                    *self._as_root,
                ],
                check=True,
                capture_output=True,
            )
        root = self.start(MySQLServer("127.0.0.1", self.port, "root", "", "throwaway"))
        with contextlib.closing(root.connect()) as conn, conn.cursor() as cur:
            for host in ("127.0.0.1", "localhost"):
                cur.execute(f"CREATE USER 'bakesight'@'{host}' IDENTIFIED BY %s", (self.password,))
                cur.execute(f"GRANT ALL PRIVILEGES ON *.* TO 'bakesight'@'{host}'")
        return self.server

    @property
    def server(self) -> MySQLServer:
        return MySQLServer(
            "127.0.0.1", self.port, "bakesight", self.password, "throwaway", str(self.sock)
        )

    def start(self, probe: MySQLServer | None = None, timeout_s: float = 60) -> MySQLServer:
        """Start the server and wait until it accepts connections."""
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--no-defaults",
                f"--datadir={self.datadir}",
                f"--socket={self.sock}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
                "--innodb-buffer-pool-size=128M",
                "--max-connections=500",
                f"--pid-file={self.tmp / 'server.pid'}",
                *self._as_root,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        probe = probe or self.server
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                probe.connect().close()
                return probe
            except pymysql.err.OperationalError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise NoMySQLServer(
                        f"the throwaway {self.binary} did not start: "
                        f"{(self.tmp / 'server.log').read_text(errors='replace')[-800:]}"
                    ) from None
                time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL the server, as a crash would; clients see their connections reset."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=20)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def find_binary() -> str | None:
    """mariadbd or mysqld, for a throwaway server of our own."""
    return _find_binary()


@contextlib.contextmanager
def _throwaway(binary: str) -> Iterator[MySQLServer]:
    server = ThrowawayServer(binary)
    try:
        yield server.initialize()
    finally:
        server.close()
