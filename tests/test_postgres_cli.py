"""The command line on PostgreSQL by URL: generate → judge → report, and an unreachable server."""

from pathlib import Path

from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]


def test_generate_judge_report_on_postgresql(small_testset, pg_url, tmp_path):
    systems = tmp_path / "systems.yaml"
    systems.write_text("systems:\n  - {name: analytic, kind: analytic, conditions: [mix, stems]}\n"
                       "  - {name: generic, kind: generic, condition: mix}\n")
    r = run_cli("generate", "--testset", small_testset, "--systems", systems, "--out", pg_url, "--quiet", check=True, cwd=tmp_path)
    assert "failed" in r.stdout and "evalkit:evalkit@" not in r.stdout  # the password is never echoed
    assert not any(p.name.startswith("postgresql") for p in tmp_path.iterdir())  # no folder named after the URL
    run_cli("judge", "--run", pg_url, "--judge", ROOT / "judges" / "reference.yaml", "--quiet", check=True, cwd=tmp_path)
    run_cli("report", pg_url, "--out", tmp_path / "rep", "--bootstrap", "50", check=True, cwd=tmp_path)
    assert "stems − mix" in (tmp_path / "rep" / "report" / "report.md").read_text()
    assert not any(p.name.startswith("postgresql") for p in tmp_path.iterdir())


def test_an_unreachable_server_is_exit_2_with_the_password_masked(small_testset, tmp_path):
    url = "postgresql://evalkit:hunter2@127.0.0.1:1/nowhere"  # port 1: nothing listens there
    systems = tmp_path / "systems.yaml"
    systems.write_text("systems:\n  - {name: generic, kind: generic, condition: mix}\n")
    r = run_cli("generate", "--testset", small_testset, "--systems", systems, "--out", url, cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "hunter2" not in r.stderr + r.stdout and "127.0.0.1" in r.stderr
    assert list(tmp_path.iterdir()) == [systems]
