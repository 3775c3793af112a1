"""Architecture rules and the portal's frame.

- The import-linter contracts in pyproject.toml hold for src/portal and ui (the core never imports streamlit; the
  layers run one way, with no exceptions), every module of the portal sits in a layer, and the check really fails
  when a contract is broken (shown on a temporary copy, never on the real tree).
- The pages and app.py only lay out widgets: they import streamlit, the pages' data (`ui`), the use cases and the
  errors, nothing else of the core.
- app.py routes with st.navigation to the page files under pages/, and the placeholder page renders.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"

# import-linter colours its report even when it is not printed to a terminal.
ANSI = re.compile(r"\x1b\[[0-9;]*m")

# Runs import-linter through its Python API in a fresh interpreter, so that the `portal` it analyses is the one on
# the PYTHONPATH given (the real tree or a temporary copy) and not one already imported by this test session.
LINT = (
    "import sys\n"
    "from importlinter.cli import lint_imports\n"
    "sys.exit(lint_imports(config_filename=sys.argv[1], no_cache=True))\n"
)


def contract_names() -> list[str]:
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    return [contract["name"] for contract in config["tool"]["importlinter"]["contracts"]]


def lint_imports(config: Path, src: Path) -> tuple[int, str]:
    """Check the contracts in `config` against the `portal` package under `src`; return exit code and report."""
    env = dict(os.environ, PYTHONPATH=str(src), NO_COLOR="1")
    done = subprocess.run(
        [sys.executable, "-c", LINT, str(config)],
        cwd=config.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, ANSI.sub("", done.stdout + done.stderr)


def test_pyproject_declares_the_streamlit_contract():
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["importlinter"]
    assert config["root_packages"] == ["portal", "ui"]
    forbidding_streamlit = [
        c for c in config["contracts"] if c["type"] == "forbidden" and "streamlit" in c["forbidden_modules"]
    ]
    assert any(c["source_modules"] == ["portal"] for c in forbidding_streamlit)


def layers_contract() -> dict:
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["importlinter"]
    return next(c for c in config["contracts"] if c["type"] == "layers")


LAYERS = layers_contract()["name"]


def test_every_module_of_the_portal_is_in_a_layer_and_none_is_excused():
    contract = layers_contract()
    assert not contract.get("ignore_imports") and not contract.get("unmatched_ignore_imports_alerting")
    listed = {name.strip() for layer in contract["layers"] for name in re.split(r"[|:]", layer)}
    top_level = {
        f"portal.{p.stem}"
        for p in (ROOT / "src" / "portal").iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()
    }
    assert top_level - listed == set(), "every module of src/portal belongs to a layer"
    assert "ui" in listed


# What a page or app.py may import: the framework, tables, the pages' data, the use cases and the core's errors.
PAGE_IMPORTS = re.compile(r"^(streamlit|pandas|ui|portal\.usecases|portal\.errors)(\.|$)")


@pytest.mark.parametrize(
    "script", [Path("app.py"), *sorted(p.relative_to(ROOT) for p in (ROOT / "pages").glob("*.py"))], ids=str
)
def test_pages_only_lay_out_and_call_the_use_cases(script: Path):
    import ast

    tree = ast.parse((ROOT / script).read_text(encoding="utf-8"))
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert imported, script
    assert [name for name in imported if not PAGE_IMPORTS.match(name)] == [], script


def test_import_contracts_are_kept():
    code, report = lint_imports(PYPROJECT, ROOT / "src")
    assert code == 0, report
    for name in contract_names():
        assert re.search(rf"^{re.escape(name)}\s+KEPT$", report, re.MULTILINE), report


def copy_of_portal(tmp_path: Path) -> Path:
    """A temporary copy of src/portal, ui and pyproject.toml; returns the copy's src folder (ui beside portal)."""
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "portal", src / "portal", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "ui", src / "ui", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PYPROJECT, tmp_path / "pyproject.toml")
    # A regular package on PYTHONPATH wins over the editable install's, even while the real tree has no __init__.py.
    for package in ("portal", "portal/adf"):
        init = src / package / "__init__.py"
        init.parent.mkdir(parents=True, exist_ok=True)
        init.touch(exist_ok=True)
    # The CLI may not exist yet; an import of a module that is not there would not count as a dependency.
    (src / "portal" / "cli.py").touch(exist_ok=True)
    return src


@pytest.mark.parametrize(
    ("scratch", "line", "contract", "edge"),
    [
        (
            "portal/scratch_ui.py",
            "import streamlit\n",
            "The core never imports the UI framework",
            "portal.scratch_ui -> streamlit",
        ),
        (
            "portal/adf/scratch_cli.py",
            "from portal import cli\n",
            LAYERS,
            "portal.adf.scratch_cli -> portal.cli",
        ),
        (
            # An import inside a function is an import all the same.
            "portal/deploy/scratch_lazy.py",
            "def later():\n    from portal.promotion import service\n",
            LAYERS,
            "portal.deploy.scratch_lazy -> portal.promotion.service",
        ),
        (
            "portal/databricks/scratch_up.py",
            "from portal.deploy import plan\n",
            LAYERS,
            "portal.databricks.scratch_up -> portal.deploy.plan",
        ),
        (
            "portal/sandbox/scratch_sibling.py",
            "import portal.environments.config\n",
            LAYERS,
            "portal.sandbox.scratch_sibling -> portal.environments.config",
        ),
        (
            "portal/promotion/scratch_ui.py",
            "from ui import promote\n",
            LAYERS,
            "portal.promotion.scratch_ui -> ui.promote",
        ),
    ],
)
def test_a_forbidden_import_breaks_its_contract(tmp_path, scratch, line, contract, edge):
    src = copy_of_portal(tmp_path)
    (src / scratch).write_text(line, encoding="utf-8")

    code, report = lint_imports(tmp_path / "pyproject.toml", src)

    assert code == 1, report
    assert re.search(rf"^{re.escape(contract)}\s+BROKEN$", report, re.MULTILINE), report
    assert edge in report, report


# --- the Streamlit frame -------------------------------------------------------------------------------------------

APP = ROOT / "app.py"
PAGE = re.compile(r"""st\.Page\(\s*["']([^"']+)["']""")


def test_app_routes_with_st_navigation_to_the_page_files():
    source = APP.read_text(encoding="utf-8")
    assert "st.navigation(" in source
    routed = {Path(p) for p in PAGE.findall(source)}
    on_disk = {p.relative_to(ROOT) for p in (ROOT / "pages").glob("*.py")}
    assert routed, "app.py passes no page file to st.Page"
    assert routed == on_disk, "every page under pages/ is routed by app.py, and every routed page exists"


def test_the_app_opens_on_the_demo_without_configuration(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.delenv("PORTAL_REPO", raising=False)
    monkeypatch.setenv("PORTAL_DEMO_DIR", str(tmp_path / "demo"))
    at = AppTest.from_file(str(APP), default_timeout=120).run()

    assert not at.exception, [e.value for e in at.exception]
    assert (tmp_path / "demo" / "portal.yaml").is_file()  # the demo was made on first start
    assert any("Not authenticated" in w.value for w in at.sidebar.warning)
    assert at.session_state["identity"].name == "dana@retail.example"
    assert not at.session_state["identity"].verified
