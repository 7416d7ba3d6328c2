"""Package list for setuptools (everything else is in pyproject.toml): the ``jaxrec`` packages,
plus the top-level ``configs/`` folder shipped as ``jaxrec.configs`` so that ``jaxrec list`` and
``jaxrec run psl/electronic`` work from an installed wheel (jaxrec.cli reads it with
importlib.resources)."""

from setuptools import find_namespace_packages, setup

CONFIG_PACKAGES = [
    f"jaxrec.configs.{name}"
    for name in find_namespace_packages("configs", exclude=["*__pycache__*"])
]

setup(
    packages=find_namespace_packages(include=["jaxrec", "jaxrec.*"], exclude=["*__pycache__*"])
    + ["jaxrec.configs", *CONFIG_PACKAGES],
    package_dir={"jaxrec.configs": "configs"},
)
