"""Every package folder is listed in pyproject.toml, so a non-editable install ships it."""

import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_every_package_folder_is_in_pyproject_packages():
    if sys.version_info < (3, 11):
        pytest.skip("tomllib needs Python 3.11")
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    dirs = {name: ROOT / path for name, path in config.get("package-dir", {}).items()}
    found = set()
    for init in (ROOT / "kerasish").rglob("__init__.py"):
        found.add(".".join(init.parent.relative_to(ROOT).parts))
    for name, folder in dirs.items():
        for init in folder.rglob("__init__.py"):
            found.add(".".join((name,) + init.parent.relative_to(folder).parts))
    missing = sorted(found - listed)
    assert not missing, f"add these packages to [tool.setuptools] packages in pyproject.toml: {missing}"
