"""`scripts/setup.sh --browser` installs chromium and the fonts, each only when missing.

`scripts/browser_deps.sh` runs with stand-ins for `fc-list`, `id`, `sudo` and `apt-get` on
its PATH: the stand-in `fc-list` knows the font families a test gives it, and `apt-get`
records what it was asked to install instead of installing it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .conftest import ROOT

SCRIPT = ROOT / "scripts" / "browser_deps.sh"


def stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body + "\n", encoding="utf-8")
    path.chmod(0o755)


def run(tmp_path: Path, *, chromium: bool, fonts: list[str] | None) -> tuple[subprocess.CompletedProcess, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "apt.log"
    browser = tmp_path / "chromium"
    if chromium:
        stub(tmp_path, "chromium", "exit 0")
    if fonts is not None:  # None: fontconfig itself is missing
        known = "\n".join(fonts)
        stub(bin_dir, "fc-list", f'[ "$1" = "-q" ] || exit 2\nprintf "%s\\n" "{known}" | grep -qxF "$2"')
    stub(bin_dir, "id", "echo 1000")
    stub(bin_dir, "sudo", '"$@"')
    stub(bin_dir, "apt-get", f'echo "$@" >> {log}')
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "CHROMIUM": str(browser), "HOME": str(tmp_path)}
    if fonts is None:  # hide the machine's own fc-list
        env["PATH"] = f"{bin_dir}:{tmp_path / 'nothing'}"
        for tool in ("bash", "grep", "printf", "cat"):
            found = next((Path(d) / tool for d in ("/usr/bin", "/bin") if (Path(d) / tool).exists()), None)
            if found:
                (bin_dir / tool).symlink_to(found)
    done = subprocess.run(["/bin/bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    return done, log.read_text(encoding="utf-8") if log.exists() else ""


ALL_FONTS = ["IPAGothic", "Noto Color Emoji"]


@pytest.mark.parametrize(
    "chromium, fonts, installed",
    [
        (True, ALL_FONTS, ""),
        (True, [], "fonts-ipafont-gothic fonts-noto-color-emoji"),  # chromium there, fonts not: the bug
        (True, ["IPAGothic"], "fonts-noto-color-emoji"),
        (False, ALL_FONTS, "chromium"),
        (False, [], "chromium fonts-ipafont-gothic fonts-noto-color-emoji"),
        (True, None, "fontconfig fonts-ipafont-gothic fonts-noto-color-emoji"),
    ],
)
def test_browser_setup_installs_only_what_is_missing(tmp_path, chromium, fonts, installed):
    done, log = run(tmp_path, chromium=chromium, fonts=fonts)
    assert done.returncode == 0, done.stderr
    if not installed:
        assert log == "" and "are installed" in done.stderr
    else:
        assert log.splitlines() == ["update -qq", f"install -y -qq {installed}"]
        assert f"installing {installed}" in done.stderr


@pytest.mark.parametrize("flag, installed", [("--browser", "install -y -qq fonts-ipafont-gothic fonts-noto-color-emoji"), ("", None)])
def test_setup_checks_the_fonts_with_browser_even_when_chromium_is_there(tmp_path, flag, installed):
    """The whole setup.sh, in a copy of scripts/ whose .venv/bin/python only records its calls."""
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    for name in ("setup.sh", "browser_deps.sh"):
        (project / "scripts" / name).write_bytes((ROOT / "scripts" / name).read_bytes())
    (project / ".venv" / "bin").mkdir(parents=True)
    stub(project / ".venv" / "bin", "python", f'echo "$@" >> {tmp_path / "pip.log"}')
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub(tmp_path, "chromium", "exit 0")
    stub(bin_dir, "fc-list", "exit 1")  # no font at all
    stub(bin_dir, "id", "echo 0")
    stub(bin_dir, "apt-get", f'echo "$@" >> {tmp_path / "apt.log"}')
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "CHROMIUM": str(tmp_path / "chromium"), "HOME": str(tmp_path)}
    args = ["/bin/bash", str(project / "scripts" / "setup.sh")] + ([flag] if flag else [])
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "-m pip install --quiet -e .[test,train,dask]" in (tmp_path / "pip.log").read_text(encoding="utf-8")
    apt = tmp_path / "apt.log"
    assert (apt.read_text(encoding="utf-8").splitlines()[-1] if apt.exists() else None) == installed
    assert os.access(SCRIPT, os.X_OK)
