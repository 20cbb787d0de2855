import pytest

from evalkit.generate import generate
from evalkit.study.design import create_study
from tests.test_generate import ANALYTIC


@pytest.fixture(scope="session")
def analytic_run(small_testset, tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    generate(small_testset, ANALYTIC, run, show_progress=False)
    return run


@pytest.fixture
def study_dir(analytic_run, tmp_path):
    create_study(analytic_run, tmp_path / "study", ratings=2, trials_per_participant=4, gold_per_participant=1, max_items=3,
                 headphone_check=True, completion_code="C0DE1234", completion_url="https://app.prolific.example/submissions/complete",
                 show_progress=False)
    return tmp_path / "study"
