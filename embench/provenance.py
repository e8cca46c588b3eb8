"""What produced a result: package versions and the platform."""

from __future__ import annotations

import platform
import sys
from importlib import metadata

PACKAGES = (
    "embench",
    "gensim",
    "numpy",
    "scipy",
    "scikit-learn",
    "pandas",
    "pyarrow",
    "pluggy",
    "pydantic",
    "nevergrad",
    "pymoo",
)


def versions(extra: list[str] | tuple[str, ...] = ()) -> dict[str, str]:
    """Installed versions of embench's dependencies and of ``extra`` distributions."""
    found = {"python": sys.version.split()[0]}
    for name in (*PACKAGES, *extra):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def machine() -> dict[str, str]:
    return {"platform": platform.platform(), "processor": platform.machine()}
