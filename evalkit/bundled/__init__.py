"""The repository's rubrics/, judges/, experiments/ and study_app/, installed with the package (setup.py maps
them here), so a wheel install finds them: see evalkit.paths.shipped_dir."""
