"""The tests' MySQL server; it lives in testkit so the benchmarks can start one too."""

from testkit.mysql import (
    ENV_URL as ENV_URL,
)
from testkit.mysql import (
    MySQLServer as MySQLServer,
)
from testkit.mysql import (
    NoMySQLServer as NoMySQLServer,
)
from testkit.mysql import (
    ThrowawayServer as ThrowawayServer,
)
from testkit.mysql import (
    find_binary as find_binary,
)
from testkit.mysql import (
    mysql_server as mysql_server,
)
