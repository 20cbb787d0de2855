"""Packaging beyond what pyproject.toml can say: the repository's rubrics/, judges/, experiments/ and
study_app/ stay top-level folders (the layout researchers edit) and are installed as ``evalkit.bundled.*``,
so a wheel install runs `evalkit demo` from any folder (evalkit.paths.shipped_dir finds them)."""

from setuptools import find_packages, setup

SHIPPED = {"rubrics": ["*.yaml"], "judges": ["*.yaml"], "experiments": ["*.yaml", "*.csv", "*.md"], "study_app": ["*.py"]}

setup(
    packages=find_packages(include=["evalkit", "evalkit.*"]) + [f"evalkit.bundled.{d}" for d in SHIPPED],
    package_dir={f"evalkit.bundled.{d}": d for d in SHIPPED},
    package_data={"evalkit": ["prompts/*.j2", "report/templates/*.j2", "assets/*", "study/*.md"],
                  **{f"evalkit.bundled.{d}": globs for d, globs in SHIPPED.items()}},
)
