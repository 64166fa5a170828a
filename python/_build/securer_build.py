"""A PEP 517 build backend for the securer package, standard library only.

pip builds the package with it without fetching anything: pyproject.toml
names no build requirement.  It makes a pure-Python wheel (PEP 427) of
the securer/ directory with core metadata 2.1 from pyproject.toml's
[project] table, an sdist, and an editable wheel (PEP 660) that puts this
directory on sys.path.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import tarfile
import tomllib
import zipfile
from typing import Any

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "securer"
TAG = "py3-none-any"


def _project() -> dict[str, Any]:
    with open(os.path.join(HERE, "pyproject.toml"), "rb") as f:
        return dict(tomllib.load(f)["project"])


def _dist(p: dict[str, Any]) -> str:
    return f"{p['name'].replace('-', '_')}-{p['version']}"


def _metadata(p: dict[str, Any]) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {p['name']}",
             f"Version: {p['version']}"]
    if "description" in p:
        lines.append(f"Summary: {p['description']}")
    if "requires-python" in p:
        lines.append(f"Requires-Python: {p['requires-python']}")
    for dep in p.get("dependencies", []):
        lines.append(f"Requires-Dist: {dep}")
    for extra, deps in p.get("optional-dependencies", {}).items():
        lines.append(f"Provides-Extra: {extra}")
        for dep in deps:
            lines.append(f'Requires-Dist: {dep}; extra == "{extra}"')
    body = ""
    readme = p.get("readme")
    if isinstance(readme, str):
        with open(os.path.join(HERE, readme), encoding="utf-8") as f:
            body = f.read()
        lines.append("Description-Content-Type: text/markdown")
    return "\n".join(lines) + "\n\n" + body


def _wheel_file() -> str:
    return ("Wheel-Version: 1.0\nGenerator: securer_build\n"
            f"Root-Is-Purelib: true\nTag: {TAG}\n")


def _package_files() -> list[str]:
    out = []
    for root, dirs, files in os.walk(os.path.join(HERE, PACKAGE)):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith((".py", ".typed")):
                out.append(os.path.relpath(os.path.join(root, name), HERE))
    return out


def _hash(data: bytes) -> str:
    d = base64.urlsafe_b64encode(hashlib.sha256(data).digest())
    return "sha256=" + d.rstrip(b"=").decode("ascii")


def _write_wheel(wheel_directory: str, files: dict[str, bytes]) -> str:
    p = _project()
    dist = _dist(p)
    info = f"{dist}.dist-info"
    files = dict(files)
    files[f"{info}/METADATA"] = _metadata(p).encode("utf-8")
    files[f"{info}/WHEEL"] = _wheel_file().encode("ascii")
    record = "".join(f"{n},{_hash(d)},{len(d)}\n" for n, d in files.items())
    record += f"{info}/RECORD,,\n"
    files[f"{info}/RECORD"] = record.encode("utf-8")
    name = f"{dist}-{TAG}.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w",
                         zipfile.ZIP_DEFLATED) as z:
        for n, d in files.items():
            zi = zipfile.ZipInfo(n, date_time=(2020, 1, 1, 0, 0, 0))
            zi.external_attr = 0o644 << 16
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, d)
    return name


def get_requires_for_build_wheel(config_settings: Any = None) -> list[str]:
    """Nothing: the standard library builds it."""
    return []


def get_requires_for_build_sdist(config_settings: Any = None) -> list[str]:
    """Nothing."""
    return []


def get_requires_for_build_editable(config_settings: Any = None
                                    ) -> list[str]:
    """Nothing."""
    return []


def prepare_metadata_for_build_wheel(metadata_directory: str,
                                     config_settings: Any = None) -> str:
    """The .dist-info directory with METADATA and WHEEL."""
    p = _project()
    info = f"{_dist(p)}.dist-info"
    d = os.path.join(metadata_directory, info)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "METADATA"), "w", encoding="utf-8") as f:
        f.write(_metadata(p))
    with open(os.path.join(d, "WHEEL"), "w", encoding="ascii") as f:
        f.write(_wheel_file())
    return info


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(wheel_directory: str, config_settings: Any = None,
                metadata_directory: str | None = None) -> str:
    """The wheel of the securer package."""
    files = {}
    for rel in _package_files():
        with open(os.path.join(HERE, rel), "rb") as f:
            files[rel.replace(os.sep, "/")] = f.read()
    return _write_wheel(wheel_directory, files)


def build_editable(wheel_directory: str, config_settings: Any = None,
                   metadata_directory: str | None = None) -> str:
    """A wheel whose .pth file puts this source directory on sys.path."""
    return _write_wheel(wheel_directory,
                        {"securer_editable.pth": (HERE + "\n").encode()})


def build_sdist(sdist_directory: str, config_settings: Any = None) -> str:
    """A tar.gz of the package, its build backend and its examples."""
    p = _project()
    dist = _dist(p)
    name = f"{dist}.tar.gz"
    members = ["pyproject.toml", "README.md", "_build/securer_build.py"]
    members += _package_files()
    ex = os.path.join(HERE, "examples")
    if os.path.isdir(ex):
        members += sorted(os.path.join("examples", n) for n in os.listdir(ex)
                          if n.endswith(".py"))
    pkg_info = _metadata(p).encode("utf-8")
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz",
                      format=tarfile.PAX_FORMAT) as t:
        for rel in members:
            t.add(os.path.join(HERE, rel), arcname=f"{dist}/{rel}")
        ti = tarfile.TarInfo(f"{dist}/PKG-INFO")
        ti.size = len(pkg_info)
        ti.mode = 0o644
        t.addfile(ti, io.BytesIO(pkg_info))
    return name
