"""Checks what `make wheels` (or `make wheel`) left in dist/, and smoke-tests what can run here.

Every wheel: its WHEEL tags match its file name, it holds the extension for its CPython, py.typed,
the .pyi stubs and the license (METADATA `License-File`), and on Linux `auditwheel show` puts it at
manylinux_2_17 or older. The sdist: the license, the Rust sources and Cargo.lock. Each wheel for an
interpreter present on this machine is installed into a clean venv and runs scripts/wheel_smoke.py
and `ironcliw-mem status --json`. Prints one line per file; exits 1 if anything failed.

    python scripts/check_wheels.py dist [--require-smoke]
"""

from __future__ import annotations

import argparse
import email.parser
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACKAGE = "ironcliw_mem"
#: The oldest glibc a Linux wheel may need: manylinux2014, as RHEL 7/8, Ubuntu 20.04 and Amazon
#: Linux 2 have it or newer.
NEWEST_GLIBC_ALLOWED = (2, 17)
WHEEL_NAME = re.compile(
    r"^(?P<dist>[^-]+)-(?P<version>[^-]+)-(?P<python>[^-]+)-(?P<abi>[^-]+)-(?P<platform>[^-]+)\.whl$"
)


class CheckFailed(Exception):
    pass


def wheel_tags(name: str) -> list[str]:
    """The expanded tags of a wheel file name (a dotted platform part is several tags)."""
    match = WHEEL_NAME.match(name)
    if not match:
        raise CheckFailed(f"{name}: not a wheel file name")
    return [
        f"{python}-{abi}-{platform}"
        for python in match["python"].split(".")
        for abi in match["abi"].split(".")
        for platform in match["platform"].split(".")
    ]


def check_wheel_contents(path: Path) -> list[str]:
    """Tags and contents; returns the tags."""
    tags = wheel_tags(path.name)
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        dist_info = next(n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info"))
        wheel_meta = email.parser.Parser().parsestr(archive.read(f"{dist_info}/WHEEL").decode())
        metadata = email.parser.Parser().parsestr(archive.read(f"{dist_info}/METADATA").decode())
    if sorted(wheel_meta.get_all("Tag") or []) != sorted(tags):
        raise CheckFailed(f"WHEEL tags {wheel_meta.get_all('Tag')} differ from the name's {tags}")
    python_tag = tags[0].split("-")[0]
    abi_digits = python_tag.removeprefix("cp")
    extension = [
        n for n in names if re.fullmatch(rf"{PACKAGE}/_native\.cpython-{abi_digits}[^/]*\.so", n)
    ]
    if len(extension) != 1:
        raise CheckFailed(
            f"expected one {PACKAGE}/_native.cpython-{abi_digits}*.so, found {extension}"
        )
    missing = [
        n
        for n in (f"{PACKAGE}/py.typed", f"{PACKAGE}/_native.pyi", f"{PACKAGE}/__init__.py")
        if n not in names
    ]
    license_files = metadata.get_all("License-File") or []
    if "LICENSE" not in license_files:
        missing.append("METADATA License-File: LICENSE")
    elif f"{dist_info}/licenses/LICENSE" not in names:
        missing.append(f"{dist_info}/licenses/LICENSE")
    if metadata.get("License-Expression") != "MIT":
        missing.append("METADATA License-Expression: MIT")
    if "Typing :: Typed" not in (metadata.get_all("Classifier") or []):
        missing.append("classifier Typing :: Typed")
    if missing:
        raise CheckFailed(f"missing: {', '.join(missing)}")
    return tags


def check_manylinux(path: Path) -> str:
    """The policy `auditwheel show` finds; fails if it needs a glibc newer than 2.17."""
    shown = subprocess.run(
        [sys.executable, "-m", "auditwheel", "show", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    text = " ".join((shown.stdout + shown.stderr).split())
    match = re.search(r'consistent with the following platform tag: "?manylinux_(\d+)_(\d+)_', text)
    if shown.returncode != 0 or not match:
        raise CheckFailed(f"auditwheel show: {text[:400]}")
    glibc = (int(match[1]), int(match[2]))
    if glibc > NEWEST_GLIBC_ALLOWED:
        raise CheckFailed(
            f"auditwheel: needs glibc {glibc[0]}.{glibc[1]}, newer than 2.17: {text[:400]}"
        )
    return f"manylinux_{glibc[0]}_{glibc[1]}"


def check_sdist(path: Path) -> None:
    with tarfile.open(path) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
        top = archive.getnames()[0].split("/")[0]
        member = archive.extractfile(f"{top}/PKG-INFO")
        pkg_info = email.parser.Parser().parsestr(member.read().decode() if member else "")
    wanted = ["LICENSE", "Cargo.toml", "Cargo.lock", "pyproject.toml", "rust/lib.rs"]
    wanted += [f"python/{PACKAGE}/py.typed", f"python/{PACKAGE}/_native.pyi"]
    missing = [name for name in wanted if name not in names]
    if "LICENSE" not in (pkg_info.get_all("License-File") or []):
        missing.append("PKG-INFO License-File: LICENSE")
    if missing:
        raise CheckFailed(f"missing: {', '.join(missing)}")


def find_interpreter(python_tag: str) -> str | None:
    """A CPython matching cp3XY on PATH or under pyenv, else None."""
    version = f"{python_tag[2]}.{python_tag[3:]}"
    candidates = [shutil.which(f"python{version}")]
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/{version}.*/bin/python{version}"))
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            probe = subprocess.run(
                [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                check=False,
            )
            if probe.returncode == 0 and probe.stdout.strip() == version:
                return candidate
    return None


def runs_here(tag: str) -> bool:
    """Whether this machine's OS and architecture can load a wheel with this tag."""
    platform = tag.split("-")[2]
    system = "macosx" if sys.platform == "darwin" else "linux"
    return system in platform and platform.endswith(os.uname().machine)


def run(command: list[str], cwd: str | None = None) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=cwd)
    if done.returncode != 0:
        raise CheckFailed(f"{' '.join(command)} exited {done.returncode}: {done.stderr[-1500:]}")
    return str(done.stdout)


#: An agent's script that must pass `mypy --strict` against the installed wheel, and one with
#: mistakes marked `# error:` that the typed stats must catch, line for line (tests/test_typing.py
#: runs the same two against the development install).
TYPING_SCRIPTS = HERE.parent / "tests" / "typing"


def typecheck_against(venv: Path, scratch: str) -> str:
    """mypy --strict on the agent's scripts with only the installed wheel to see."""
    python = str(venv / "bin" / "python")
    pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    run([*pip, "mypy>=1.10"])
    mistakes = TYPING_SCRIPTS / "agent_mistakes.py"
    script = TYPING_SCRIPTS / "agent_script.py"
    done = subprocess.run(
        [python, "-m", "mypy", "--strict", "--no-incremental", str(script), str(mistakes)],
        capture_output=True,
        text=True,
        check=False,
        cwd=scratch,
    )
    found: dict[str, set[int]] = {}
    for match in re.finditer(r"^(.*?\.py):(\d+): error:", done.stdout, re.M):
        found.setdefault(Path(match[1]).name, set()).add(int(match[2]))
    lines = mistakes.read_text().splitlines()
    marked = {n for n, line in enumerate(lines, start=1) if "# error:" in line}
    if found.get(script.name) or found.get(mistakes.name, set()) != marked:
        raise CheckFailed(f"mypy --strict against the wheel: {done.stdout[-1500:]}")
    return f"mypy --strict: {script.name} clean, all {len(marked)} marked mistakes caught"


def smoke_test(wheel: Path, interpreter: str, typecheck: bool = False) -> str:
    """Install into a clean venv, outside the source tree; the smoke script's JSON + status
    (and, with `typecheck`, the agent's scripts under mypy --strict against the wheel)."""
    with tempfile.TemporaryDirectory(prefix="ironcliw-wheel-") as scratch:
        venv = Path(scratch) / "venv"
        run([interpreter, "-m", "venv", str(venv)])
        python = str(venv / "bin" / "python")
        run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)])
        # cwd outside the checkout so that nothing but the installed wheel can be imported.
        smoke = json.loads(run([python, str(HERE / "wheel_smoke.py")], cwd=scratch))
        status = json.loads(
            run([str(venv / "bin" / "ironcliw-mem"), "status", "--json"], cwd=scratch)
        )
        if status.get("level") not in ("green", "yellow", "red"):
            raise CheckFailed(f"ironcliw-mem status --json gave no level: {status}")
        smoke["status_level"] = status["level"]
        if typecheck:
            smoke["typing"] = typecheck_against(venv, scratch)
        return json.dumps(smoke)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dist", type=Path)
    parser.add_argument(
        "--require-smoke",
        action="store_true",
        help="fail unless at least one wheel was installed and smoke-tested here",
    )
    parser.add_argument(
        "--typecheck",
        action="store_true",
        help="also run mypy --strict on an agent's scripts against each smoke-tested wheel",
    )
    args = parser.parse_args()
    files = sorted(args.dist.glob("*.whl")) + sorted(args.dist.glob("*.tar.gz"))
    if not files:
        print(f"no wheels or sdists in {args.dist}", file=sys.stderr)
        return 1
    failures = smoked = 0
    for path in files:
        size = f"{path.stat().st_size / 2**20:.1f} MiB"
        try:
            if path.name.endswith(".tar.gz"):
                check_sdist(path)
                print(f"ok    {path.name}  {size}  sdist: LICENSE, sources, Cargo.lock")
                continue
            tags = check_wheel_contents(path)
            line = f"{path.name}  {size}  tags {', '.join(tags)}"
            if "linux" in tags[0]:
                line += f"  auditwheel {check_manylinux(path)}"
            interpreter = find_interpreter(tags[0].split("-")[0])
            if interpreter and runs_here(tags[0]):
                smoked_json = smoke_test(path, interpreter, args.typecheck)
                line += f"\n      smoke ({interpreter}): {smoked_json}"
                smoked += 1
            else:
                line += "\n      no such interpreter or platform here: tags and contents only"
            print(f"ok    {line}")
        except CheckFailed as error:
            failures += 1
            print(f"FAIL  {path.name}  {size}: {error}")
    if args.require_smoke and smoked == 0:
        print("FAIL  no wheel could be installed and smoke-tested here", file=sys.stderr)
        failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
