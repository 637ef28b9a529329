"""The layering of ADR 0012 holds, and each contract fails when its rule is broken.

``make lint`` runs the contracts on the tree; here they run on a copy of ``src/accord`` with
one forbidden import added, so a contract that could never fail would be caught.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
CONTRACTS = {
    "layers": "Domains plug into the platform; nothing imports the layers above it",
    "audit": "Federation knows nothing of the audit log's network half, which rides on it",
    "pure": "Trust cores take bytes and now: no storage, network, HTTP or CLI",
}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("pristine") / "src"
    shutil.copytree(ROOT / "src" / "accord", copy / "accord", ignore=_caches)
    return copy


def _caches(_folder: str, names: list[str]) -> list[str]:
    return [name for name in names if name == "__pycache__"]


def lint_imports(src: Path) -> str:
    """The contracts of pyproject.toml, checked against the package in ``src``."""
    done = subprocess.run(
        [Path(sys.executable).parent / "lint-imports", "--config", ROOT / "pyproject.toml"],
        cwd=src,
        env={**os.environ, "PYTHONPATH": str(src)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.stdout + done.stderr


@dataclass(frozen=True)
class Injection:
    module: str  # where the line is added
    line: str
    broken: str  # the contract it must break
    route: str  # the import the report must name


def with_import(pristine: Path, tmp_path: Path, module: str, line: str) -> Path:
    src = tmp_path / "src"
    shutil.copytree(pristine, src)
    path = src.joinpath(*module.split(".")).with_suffix(".py")
    path.write_text(path.read_text() + f"\n{line}\n")
    return src


def test_the_tree_keeps_every_contract(pristine: Path) -> None:
    report = lint_imports(pristine)
    for name in CONTRACTS.values():
        assert f"{name} KEPT" in report, report
    assert "0 broken" in report, report


@pytest.mark.parametrize(
    "injection",
    [
        pytest.param(
            Injection(
                "accord.federation.outbox",
                "import accord.requests.models",
                "layers",
                "accord.federation is not allowed to import accord.requests",
            ),
            id="federation-imports-a-domain",
        ),
        pytest.param(
            Injection(
                "accord.audit.log",
                "def later() -> None:\n    import accord.evidence.models",
                "layers",
                "accord.audit is not allowed to import accord.evidence",
            ),
            id="import-inside-a-function",
        ),
        pytest.param(
            Injection(
                "accord.names",
                "import accord.demo.cases",
                "layers",
                "accord.names is not allowed to import accord.demo",
            ),
            id="kernel-imports-the-demo",
        ),
        pytest.param(
            Injection(
                "accord.requests.fold",
                "import accord.evidence.seal",
                "layers",
                "accord.requests is not allowed to import accord.evidence",
            ),
            id="requests-import-evidence",
        ),
        pytest.param(
            Injection(
                "accord.identity.service",
                "import accord.app",
                "layers",
                "accord.identity is not allowed to import accord.app",
            ),
            id="platform-imports-the-composition-root",
        ),
        pytest.param(
            Injection(
                "accord.federation.service",
                "import accord.audit.witnessing",
                "audit",
                "accord.federation is not allowed to import accord.audit.witnessing",
            ),
            id="federation-imports-witnessing",
        ),
        pytest.param(
            Injection(
                "accord.envelope.core",
                "import sqlalchemy",
                "pure",
                "accord.envelope is not allowed to import sqlalchemy",
            ),
            id="envelope-touches-storage",
        ),
        pytest.param(
            Injection(
                "accord.identity.models",
                "from accord.node import home",
                "pure",
                "accord.identity.models is not allowed to import accord.node",
            ),
            id="identity-records-open-the-node",
        ),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    pristine: Path, tmp_path: Path, injection: Injection
) -> None:
    report = lint_imports(with_import(pristine, tmp_path, injection.module, injection.line))
    assert f"{CONTRACTS[injection.broken]} BROKEN" in report, report
    assert injection.route in report, report
