"""Study load: concurrent simulated participants answering with double submits and reloads.

Each participant is a thread running the same data-layer calls the app makes (participant lookup,
next trial on every page load, save on submit, and a second submit of the same answer). With
--processes 2 the participants are split over two OS processes, like two app servers sharing one
store (use --store-url for PostgreSQL). Reports exactly-once counts and save latency percentiles.

    python -m benchmarks.study_load [--participants 50] [--answers 40] [--processes 1] [--store-url URL] [--record]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def build_study(root: Path, participants: int, answers: int, store_url: str | None) -> Path:
    from evalkit.data.synth import synthesize
    from evalkit.generate import generate
    from evalkit.study.design import create_study
    from evalkit.systems import load_systems

    synthesize(root / "ts", songs=6, seed=1, seconds=3, sample_rate=16000, problems_per_song=5, progress=False)
    generate(root / "ts", load_systems(Path(__file__).parents[1] / "experiments" / "systems.yaml"), root / "run",
             split="all", show_progress=False)
    n_items = 36
    ratings = int(np.ceil(participants * answers / (n_items * 6)))
    create_study(root / "run", root / "study", ratings=ratings, trials_per_participant=answers, gold_per_participant=0,
                 headphone_check=False, store_url=store_url, show_progress=False)
    return root / "study"


def run_participants(study_dir: str, pids: list[str], reload_every: int = 7) -> list[float]:
    from evalkit.study.simulate import admit
    from evalkit.study.study_store import StudyStore

    study = StudyStore(study_dir)
    latencies: list[float] = []
    lock = threading.Lock()

    def participant(pid: str) -> None:
        admit(study, pid)  # consent, screening and the slot claim, as the app does
        k = 0
        while True:
            trial, done, total = study.next_trial(pid)  # what every page load does
            if trial is None:
                break
            if k % reload_every == reload_every - 1:
                study.next_trial(pid)  # a reload: the same question again
            for _ in range(2):  # a double submit
                t = time.perf_counter()
                study.save_answer(pid, trial.trial_id, {"specificity": "A", "helpfulness": "A" if k % 2 else "B"}, simulated=True)
                with lock:
                    latencies.append(time.perf_counter() - t)
            k += 1

    threads = [threading.Thread(target=participant, args=(p,)) for p in pids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


@contextlib.contextmanager
def fresh_database(url: str | None):
    """A new, empty PostgreSQL database beside ``url`` for one run (dropped afterwards); SQLite needs none."""
    if not url:
        yield None
        return
    import uuid

    import sqlalchemy as sa

    name = f"evalkit_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run(participants: int = 50, answers: int = 40, processes: int = 1, store_url: str | None = None) -> dict:
    with fresh_database(store_url) as db:
        return _run(participants, answers, processes, db)


def _run(participants: int, answers: int, processes: int, store_url: str | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        study = build_study(Path(tmp), participants, answers, store_url)
        pids = [f"load-{k:03d}" for k in range(participants)]
        t = time.perf_counter()
        if processes == 1:
            lat = run_participants(str(study), pids)
        else:
            # Separate interpreters started by module name (not multiprocessing's spawn, which re-imports
            # whatever __main__ the parent has, e.g. a Streamlit script under AppTest).
            procs = [subprocess.Popen([sys.executable, "-m", "benchmarks.study_load", "--worker", str(study),
                                       ",".join(pids[k::processes])], stdout=subprocess.PIPE, text=True)
                     for k in range(processes)]
            lat = []
            for p in procs:
                out, _ = p.communicate(timeout=600)
                if p.returncode:
                    raise RuntimeError(f"load worker exited with {p.returncode}")
                lat += json.loads(out)
        wall = time.perf_counter() - t
        from evalkit.study.study_store import StudyStore

        s = StudyStore(study)
        prefs = [p for p in s.store.preferences(s.study_id) if p.criterion == "helpfulness"]  # one row per trial and question
        keys = {(p.participant_id, p.trial_id) for p in prefs}
        expected = sum(len(s.trials(pid)) for pid in pids)
        return {"participants": participants, "answers_each": answers, "processes": processes,
                "backend": s.store.dialect, "rows": len(prefs), "unique": len(keys), "expected": expected,
                "saves": len(lat), "p50_ms": float(np.percentile(lat, 50) * 1000), "p95_ms": float(np.percentile(lat, 95) * 1000),
                "max_ms": float(np.max(lat) * 1000), "wall_s": wall}


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        print(json.dumps(run_participants(sys.argv[2], sys.argv[3].split(","))))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--participants", type=int, default=50)
    ap.add_argument("--answers", type=int, default=40)
    ap.add_argument("--processes", type=int, default=1)
    ap.add_argument("--store-url")
    ap.add_argument("--record", action="store_true")
    args = ap.parse_args()
    r = run(args.participants, args.answers, args.processes, args.store_url)
    print(json.dumps(r, indent=2))
    row = (f"| study saves, {r['participants']} participants × {r['answers_each']} answers, double submits + reloads, "
           f"{r['processes']} process(es), {r['backend']} | {r['rows']} rows for {r['expected']} trials ({r['saves']} submits) | "
           f"p50 {r['p50_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms, max {r['max_ms']:.0f} ms | target p95 ≤ 100 ms on SQLite |")
    print(row)
    if args.record:
        from benchmarks.record import record

        record(f"study_load_{r['backend']}_{r['processes']}", row)


if __name__ == "__main__":
    main()
