"""The import rule: dependencies point one way, and only the CLI composes deployables."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from facemood.config import REPO_ROOT

DEPLOYABLES = ("pipeline", "lambdas", "app")
EDGES = ("cli", "local_stack")  # the composition root and the local dev stack: outside the core
# what the core never imports: each deployable brings its own (click: the CLI; moto and the sign-in
# provider: the local stack; scikit-learn and torch: training; streamlit: the page)
EDGE_FRAMEWORKS = ("click", "moto", "oidc_provider_mock", "sklearn", "streamlit", "torch")


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top level or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def core_modules() -> list[Path]:
    """The core package's modules."""
    return sorted((REPO_ROOT / "facemood").rglob("*.py"))


@pytest.mark.parametrize("path", core_modules(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_the_core_imports_no_deployable_and_no_edge(path):
    offending = sorted(m for m in imported_modules(path) if m.split(".")[0] in DEPLOYABLES + EDGES)
    assert not offending, f"{path.name} imports {offending}: only cli may wire deployables"


@pytest.mark.parametrize("path", core_modules(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_the_core_imports_no_edge_framework(path):
    offending = sorted(m for m in imported_modules(path) if m.split(".")[0] in EDGE_FRAMEWORKS)
    assert not offending, f"{path.name} imports {offending}: the core is copied into every image"


@pytest.mark.parametrize("package", ["pipeline", "lambdas", "app"])
def test_deployables_do_not_import_each_other_or_the_composition_root(package):
    for path in sorted((REPO_ROOT / package).rglob("*.py")):
        others = {d for d in DEPLOYABLES if d != package}
        offending = sorted(m for m in imported_modules(path)
                           if m.split(".")[0] in others or m.split(".")[0] in EDGES)
        assert not offending, f"{path} imports {offending}"


def test_the_check_itself_finds_a_deployable_import(tmp_path):
    module = tmp_path / "wired.py"
    module.write_text("def f():\n    from pipeline.main import run\n    import lambdas.augment\n")
    assert {"pipeline.main", "lambdas.augment"} <= imported_modules(module)


def test_only_facemood_aws_talks_to_boto():
    """One edge to AWS: clients are built and botocore's errors put in words in facemood/aws.py;
    everything else takes a client and catches ``aws_errors()``."""
    edge = REPO_ROOT / "facemood" / "aws.py"
    for package in ("facemood", "pipeline", "lambdas", "app"):
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            offending = sorted(m for m in imported_modules(path) if m.split(".")[0] in ("boto3", "botocore"))
            assert path == edge or not offending, f"{path.relative_to(REPO_ROOT)} imports {offending}"


@pytest.mark.parametrize(("dockerfile", "allowed"), [
    ("Dockerfile-lambda", {"facemood", "lambdas"}),
    ("Dockerfile-app", {"facemood", "app", "cli"}),  # the app runs `facemood sign-in-secrets`
    ("Dockerfile-pipeline", {"facemood", "pipeline", "cli"}),  # the task runs `facemood train`
])
def test_each_image_copies_the_core_and_its_own_deployable_only(dockerfile, allowed):
    packages = set(DEPLOYABLES + EDGES + ("facemood",))
    copied = set()
    for line in (REPO_ROOT / "dockerfiles" / dockerfile).read_text(encoding="utf-8").splitlines():
        if line.startswith("COPY "):
            copied |= {part.split("/")[0] for part in line.split()[1:-1] if part.split("/")[0] in packages}
    assert copied == allowed, f"{dockerfile} copies {sorted(copied)}"
    # the package is installed into site-packages: its config folder must be named, not found beside it
    assert "FACEMOOD_CONFIG_DIR=" in (REPO_ROOT / "dockerfiles" / dockerfile).read_text(encoding="utf-8")
    context = (REPO_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert all(f"!{package}" in context for package in copied), "the build context leaves out a copied package"


MAX_FUNCTION_LINES = 50  # shipped code only: a test or a bench may read top to bottom
SHIPPED = ("facemood", "cli", "local_stack", *DEPLOYABLES)


def long_functions(source: str, limit: int = MAX_FUNCTION_LINES) -> list[tuple[str, int]]:
    """(name, lines) of each function in ``source`` longer than ``limit`` lines, its def line to its last."""
    return [(node.name, node.end_lineno - node.lineno + 1) for node in ast.walk(ast.parse(source))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= limit]


def test_no_shipped_function_is_over_fifty_lines():
    found = {f"{path.relative_to(REPO_ROOT)}: {name} ({lines} lines)"
             for package in SHIPPED for path in sorted((REPO_ROOT / package).rglob("*.py"))
             for name, lines in long_functions(path.read_text(encoding="utf-8"))}
    assert not found


def test_the_length_check_counts_a_long_function_and_passes_a_short_one():
    body = "".join(f"    x{i} = {i}\n" for i in range(49))
    assert long_functions(f"def short():\n{body}") == []  # 50 lines with its def
    assert long_functions(f"def long():\n{body}    x = 0\n") == [("long", 51)]
