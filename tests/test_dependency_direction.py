"""Dependencies point from tools and tests to production code, never the reverse.

Every module's syntax tree is read (no import side effects), so an import inside a function, a
`try` block or `importlib.import_module("...")` with a literal name counts as one at the top.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# What each package may import from this repository besides itself. Everything else that is a
# top-level package or module of the repository is refused; third-party ones are not judged here.
ALLOWED: dict[str, frozenset[str]] = {
    "contract": frozenset(),
    "central": frozenset({"contract", "servicekit"}),
    "ai": frozenset({"contract", "servicekit"}),
    # The HTTP layer both services share: it may know the contract, never either service.
    "servicekit": frozenset({"contract"}),
    # Dev-only support for tests and benchmarks: it may start servers, never reach into a service.
    "testkit": frozenset({"contract"}),
}

# Packages that may import production code but never the test suite.
NOT_TESTS = ("bench", "tools", "testkit", "demo", "ops", "stacks", "fixtures")

# Files of a service package still allowed to import outside the rules above, each with its reason.
# Empty: recognition's dev tools (calibration, metric fitting, eval, bench) live in tools/.
EXCEPTIONS: dict[str, frozenset[str]] = {}


def repo_top_level() -> frozenset[str]:
    """Names importable from the repository root: packages and top-level modules."""
    names = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    names |= {p.stem for p in ROOT.glob("*.py")}
    return frozenset(names)


def imported_names(source: str, filename: str) -> Iterator[tuple[int, str]]:
    """(line, top-level name) for each absolute import, including importlib with a literal name."""
    tree = ast.parse(source, filename)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                yield node.lineno, node.module.split(".")[0]
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if (
                name in ("import_module", "__import__")
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
                and not first.value.startswith(".")
            ):
                yield node.lineno, first.value.split(".")[0]


def violations(package_dir: Path, allowed: frozenset[str], repo: frozenset[str]) -> list[str]:
    """Each import from package_dir of a repository package outside itself and `allowed`."""
    own = package_dir.name
    found = []
    for path in sorted(package_dir.rglob("*.py")):
        rel = path.relative_to(package_dir.parent).as_posix()
        for line, name in imported_names(path.read_text(encoding="utf-8"), rel):
            if name in repo and name != own and name not in allowed:
                if name in EXCEPTIONS.get(rel, frozenset()):
                    continue
                found.append(f"{rel}:{line} imports {name}")
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_it_may(package: str) -> None:
    assert violations(ROOT / package, ALLOWED[package], repo_top_level()) == []


@pytest.mark.parametrize("package", NOT_TESTS)
def test_tools_and_harness_do_not_import_the_test_suite(package: str) -> None:
    assert violations(ROOT / package, frozenset(), frozenset({"tests"})) == []


def test_contract_is_stdlib_only() -> None:
    outside = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in sorted((ROOT / "contract").rglob("*.py"))
        for line, name in imported_names(path.read_text(encoding="utf-8"), str(path))
        if name not in sys.stdlib_module_names and name not in ("contract", "__future__")
    ]
    assert outside == []


def test_every_exception_names_a_file_that_exists() -> None:
    assert [f for f in EXCEPTIONS if not (ROOT / f).exists()] == []


def test_the_checker_catches_a_wrong_way_import(tmp_path: Path) -> None:
    package = tmp_path / "central"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "ok.py").write_text("from contract import answer\nfrom . import ok\nimport json\n")
    (package / "bad.py").write_text(
        "import importlib\n"
        "def f():\n"
        "    from ai.client import x\n"
        "    return importlib.import_module('fixtures.bakery')\n"
    )
    repo = frozenset({"central", "ai", "contract", "fixtures"})
    assert violations(package, ALLOWED["central"], repo) == [
        "central/bad.py:3 imports ai",
        "central/bad.py:4 imports fixtures",
    ]
