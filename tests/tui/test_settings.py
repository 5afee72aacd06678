"""The settings file (theme, operator, export directory, journal) and the environment variables deploytui
reads, documented where people look: `--help` and the README."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from deploytui.errors import UserError
from deploytui.tui.config import HEADER, load

from .conftest import HERE

DEPLOYTUI = str(Path(sys.executable).with_name("deploytui"))
ROOT = HERE.parent.parent


def test_settings_read_and_the_theme_kept_only_in_a_file_deploytui_made(tmp_path):
    path = tmp_path / "deploytui" / "config.toml"
    config = load(path)
    assert config.ours and config.theme is None
    assert "kept in" in config.keep_theme("textual-light")
    assert path.read_text().startswith(HEADER) and load(path).theme == "textual-light"
    mine = tmp_path / "mine.toml"
    mine.write_text('# my settings\noperator = "alice"\nexport_dir = "~/records"\n')
    before = mine.read_bytes()
    config = load(mine)
    assert (config.operator, config.exports) == ("alice", Path("~/records").expanduser())
    said = config.keep_theme("textual-light")
    assert said == f'to keep it, set theme = "textual-light" in {mine}'
    assert mine.read_bytes() == before  # a file someone wrote is never changed


@pytest.mark.parametrize("text,said", [("theme = 3\n", "theme must be a string"),
                                       ("colour = 'x'\n", "unknown setting colour"),
                                       ("theme = \n", "not valid TOML")])
def test_broken_settings_are_one_line(tmp_path, text, said):
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(UserError) as e:
        load(path)
    assert said in str(e.value) and str(path) in str(e.value) and "\n" not in str(e.value)


def test_operator_and_journal_come_from_the_settings_unless_given(tmp_path, settings_file):
    settings_file.parent.mkdir()
    journal = tmp_path / "from-settings.sqlite3"
    settings_file.write_text(f'operator = "settings"\njournal = "{journal}"\n')
    book = tmp_path / "b.toml"
    book.write_text('[runbook]\nid = "b"\ntitle = "B"\n[[steps]]\nid = "a"\ntitle = "A"\nrun = "true"\nauto = true\n')
    env = {"PATH": "/usr/bin:/bin", "DEPLOYTUI_CONFIG": str(settings_file), "HOME": str(tmp_path)}
    subprocess.run([DEPLOYTUI, "run", str(book), "--headless"], env=env, check=True, capture_output=True)
    history = subprocess.run([DEPLOYTUI, "history"], env=env, check=True, capture_output=True, text=True).stdout
    assert " settings " in history and journal.exists()
    env["DEPLOYTUI_OPERATOR"] = "from-env"
    subprocess.run([DEPLOYTUI, "run", str(book), "--headless"], env=env, check=True, capture_output=True)
    history = subprocess.run([DEPLOYTUI, "history"], env=env, check=True, capture_output=True, text=True).stdout
    assert "from-env" in history
    bad = subprocess.run([DEPLOYTUI, "history"], env={**env, "DEPLOYTUI_CONFIG": str(book)}, capture_output=True,
                         text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "unknown setting" in bad.stderr


def test_every_environment_variable_deploytui_reads_is_documented():
    """Each DEPLOYTUI_* name the code reads appears in `--help` and in the README."""
    read = set()
    for path in (ROOT / "deploytui").rglob("*.py"):
        read |= set(re.findall(r"[\"'](DEPLOYTUI_[A-Z_]+)[\"']", path.read_text()))
    read -= {"DEPLOYTUI_PROCESS", "DEPLOYTUI_SECRET_", "DEPLOYTUI_REHEARSAL"}  # set for its commands, not read
    read |= {"DEPLOYTUI_VAR_NAME"}  # made from a variable's name
    read = {n for n in read if not n.endswith("_")}
    assert {"DEPLOYTUI_OPERATOR", "DEPLOYTUI_DEBUG", "DEPLOYTUI_JOURNAL", "DEPLOYTUI_CONFIG"} <= read
    helptext = subprocess.run([DEPLOYTUI, "--help"], capture_output=True, text=True, check=True).stdout
    readme = (ROOT / "README.md").read_text()
    for name in sorted(read):
        assert name in helptext, f"{name} is not in --help"
        assert name in readme, f"{name} is not in the README"
