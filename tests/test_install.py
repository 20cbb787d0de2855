"""`pip install .` (not editable) ships what evalkit reads at run time: rubrics, judge presets, experiments and
the study app. The wheel is built and installed into a folder of its own, then used from an empty folder with
no checkout in reach. (.ci/run also runs `evalkit demo` from such an install.)"""

import os
import subprocess
import sys
import zipfile

import pytest

from tests.conftest import ROOT

SHIPPED = ["rubrics/specificity.yaml", "rubrics/helpfulness.yaml", "rubrics/pairwise.yaml", "judges/reference.yaml",
           "judges/smollm2-rubrics.yaml", "experiments/default.yaml", "experiments/systems.yaml", "study_app/app.py",
           "study_app/participant_page.py"]


def _clean_tree(dest):
    """The checkout's files as a fresh clone has them (tracked and new, nothing ignored): a build from the checkout
    itself reuses its build/ folder, whose copies setuptools keeps when their time stamps tie with the sources'."""
    import shutil

    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode != 0:
        return ROOT
    for rel in listed.stdout.splitlines():
        if (ROOT / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)
    return dest


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    src = _clean_tree(tmp_path_factory.mktemp("src"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp), str(src)],
                   check=True, capture_output=True)
    [wheel] = tmp.glob("evalkit-*.whl")
    target = tmp / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    return wheel, target


def test_the_wheel_carries_every_shipped_file(installed):
    wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for rel in SHIPPED:
        assert f"evalkit/bundled/{rel}" in names, rel
        assert (ROOT / rel).read_bytes() == zipfile.ZipFile(wheel).read(f"evalkit/bundled/{rel}")  # the same file, not a copy that drifts


def test_an_installed_evalkit_finds_its_files_from_an_empty_folder(installed, tmp_path):
    _, target = installed
    code = ("import evalkit, evalkit.paths as p\n"
            "from evalkit.judging.rubrics import load_judge, load_rubric\n"
            "from evalkit.pipeline import load_experiment\n"
            f"assert evalkit.__file__.startswith({str(target)!r}), evalkit.__file__\n"
            "print(p.shipped_dir('study_app') / 'app.py')\n"
            "load_judge('judges/smollm2-rubrics.yaml'); load_rubric('specificity')\n"
            "cfg = load_experiment(p.shipped_dir('experiments') / 'default.yaml')\n"
            "print(len(cfg.systems))\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          env={**env, "PYTHONPATH": str(target)})
    assert proc.returncode == 0, proc.stderr
    app, n_systems = proc.stdout.split()
    assert app.startswith(str(target)) and os.path.exists(app) and int(n_systems) >= 3
