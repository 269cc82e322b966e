"""What ``pip install .`` puts on a machine: one import name, with its data files."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of the files git tracks (the build leaves nothing in the tree)."""
    source = tmp_path_factory.mktemp("source")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                            "-w", str(out), str(source)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    [found] = out.glob("problemflow-*.whl")
    return found


def test_the_wheel_holds_one_top_level_package_and_its_data(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.startswith("problemflow-")}
    assert top == {"problemflow"}, top
    for needed in ("problemflow/models/migrations/env.py", "problemflow/models/migrations/script.py.mako",
                   "problemflow/models/migrations/versions/0008_people.py", "problemflow/tasks/incident/default_rules.toml",
                   "problemflow/templates/problem/kickoff.md.j2", "problemflow/templates/report/kpi.html.j2",
                   "problemflow/flows/problem_management.py", "problemflow/tasks/reporting/kpi/report.py"):
        assert needed in names, needed


def test_installed_it_imports_as_problemflow_beside_a_project_with_its_own_flows(wheel, tmp_path):
    target = tmp_path / "site"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                                str(wheel)], capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr[-2000:]
    project = tmp_path / "project"
    for name in ("flows", "tasks", "models"):
        (project / name).mkdir(parents=True)
        (project / name / "__init__.py").write_text(f"WHO = 'the project {name}'\n")
    script = (
        "import sys, importlib\n"
        "sys.path.insert(0, '')\n"  # the working directory first, as `python -m` has it
        "import problemflow.flows.problem_management as pm, problemflow.models.db as db\n"
        "from problemflow.tasks.common.documents import TEMPLATES_DIR\n"
        "from importlib.resources import files\n"
        "assert pm.__file__.startswith(sys.argv[1]), pm.__file__\n"
        "assert (TEMPLATES_DIR / 'problem' / 'kickoff.md.j2').is_file(), TEMPLATES_DIR\n"
        "assert (files('problemflow.models') / 'migrations' / 'env.py').is_file()\n"
        "import flows, tasks, models\n"
        "print(flows.WHO, tasks.WHO, models.WHO)\n"
    )
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_HOME": str(tmp_path / "prefect")}
    ran = subprocess.run([sys.executable, "-c", script, str(target)], cwd=project, env=env, capture_output=True,
                         text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert ran.stdout.split() == ["the", "project", "flows", "the", "project", "tasks", "the", "project", "models"]
    # and without the project, the common names are not ours to import
    alone = subprocess.run([sys.executable, "-c", "import models"], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=60)
    assert alone.returncode != 0 and "No module named 'models'" in alone.stderr
