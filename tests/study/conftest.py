import pytest

from evalkit.generate import generate
from evalkit.study.design import create_study
from tests.test_generate import ANALYTIC


@pytest.fixture(scope="session")
def analytic_run(small_testset, tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    generate(small_testset, ANALYTIC, run, show_progress=False)
    return run


STUDY_OPTIONS = dict(ratings=2, trials_per_participant=4, gold_per_participant=2, max_items=3, headphone_check=True,
                     completion_code="C0DE1234", completion_url="https://app.prolific.example/submissions/complete",
                     screenout_code="SCR33N", show_progress=False)


@pytest.fixture
def study_dir(analytic_run, tmp_path):
    """A study without the listening gate (Streamlit's AppTest runs no browser JavaScript to report plays)."""
    create_study(analytic_run, tmp_path / "study", listen_min_s=None, **STUDY_OPTIONS)
    return tmp_path / "study"


@pytest.fixture
def gated_study_dir(analytic_run, tmp_path):
    """The same study with answers locked until the mix was played for 1 s (for real-browser tests)."""
    create_study(analytic_run, tmp_path / "gated", listen_min_s=1.0, **STUDY_OPTIONS)
    return tmp_path / "gated"
