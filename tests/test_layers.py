"""The core never depends on the dashboard: queuecore imports no Textual and no jobtui."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import queuecore
from queuecore.store import registry

CORE = Path(queuecore.__file__).parent


def test_queuecore_sources_import_no_ui() -> None:
    offenders = []
    for path in CORE.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in {"textual", "rich", "typer", "jobtui"}:
                    offenders.append(f"{path.relative_to(CORE)}: {name}")
    assert offenders == []


def test_importing_queuecore_loads_no_ui_module() -> None:
    packages = sorted({target.partition(":")[0] for target in registry.BUILTIN.values()})
    code = (
        f"import sys, queuecore, queuecore.web, {', '.join(packages)};"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'textual', 'rich', 'typer', 'jobtui'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cli_loads_no_textual() -> None:
    """The scripting CLI (``jobtui ls``, ``enqueue``…) starts without Textual: only the
    dashboard commands import it, so scripts do not pay for it."""
    code = "import sys, jobtui.cli, jobtui.format; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
