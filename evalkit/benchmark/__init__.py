"""The benchmark: frozen releases (release.py), submissions (submission.py), scoring (score.py) and leaderboards (leaderboard.py)."""
