"""The settings file: `config.toml` in the platform's config directory (`~/.config/deploytui/` on Linux), or the
file `DEPLOYTUI_CONFIG` names. Every key is optional:

    theme = "textual-dark"        # the screen's theme; choosing one in the app (t) keeps it here
    operator = "alice"            # who drives, when --operator and DEPLOYTUI_OPERATOR are not given
    export_dir = "~/deploys"      # where the app saves records and screenshots (default: where it started)
    journal = "~/deploys/journal.sqlite3"   # the journal, when --journal and DEPLOYTUI_JOURNAL are not given

The app writes the file only when it made it itself (its first line says so): a file someone wrote is never
changed, and the app says how to keep a theme there instead. No Textual here: the CLI reads it too."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError

HEADER = "# deploytui settings (written by deploytui when you choose a theme; edit freely)"
KEYS = {"theme": str, "operator": str, "export_dir": str, "journal": str}


def config_path() -> Path:
    if os.environ.get("DEPLOYTUI_CONFIG"):
        return Path(os.environ["DEPLOYTUI_CONFIG"]).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("deploytui")) / "config.toml"


@dataclass
class Config:
    path: Path
    theme: str | None = None
    operator: str | None = None
    export_dir: str | None = None
    journal: str | None = None
    ours: bool = False  # the file was written by deploytui (or does not exist yet): the app may write it
    unknown: list[str] = field(default_factory=list)

    @property
    def exports(self) -> Path:
        """Where in-app exports and screenshots go: the configured directory, or where deploytui started."""
        return Path(self.export_dir).expanduser() if self.export_dir else Path.cwd()

    def journal_path(self) -> Path | None:
        return Path(self.journal).expanduser() if self.journal else None

    def keep_theme(self, theme: str) -> str:
        """Remember the theme for next time; says where, or why not."""
        if self.theme == theme:
            return ""
        self.theme = theme
        if not self.ours:
            return f"to keep it, set theme = \"{theme}\" in {self.path}"
        values = {k: getattr(self, k) for k in KEYS if getattr(self, k)}
        lines = [HEADER] + [f"{k} = {_toml_string(v)}" for k, v in values.items()]
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
            tmp.replace(self.path)
        except OSError as e:
            return f"could not save it in {self.path}: {e.strerror or e}"
        return f"kept in {self.path}"


def _toml_string(value: str) -> str:
    import tomli_w

    return tomli_w.dumps({"v": value}).split("=", 1)[1].strip()


def load(path: Path | None = None) -> Config:
    """The settings; a missing file is no settings. A broken one is one line for people."""
    path = path or config_path()
    if not path.exists():
        return Config(path=path, ours=True)
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except OSError as e:
        raise UserError(f"{path}: cannot read the settings: {e.strerror or e}", 2) from None
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"{path}: not valid TOML: {e} (fix it, or remove the file)", 2) from None
    config = Config(path=path, ours=text.startswith(HEADER))
    for key, value in data.items():
        if key not in KEYS:
            config.unknown.append(key)
            continue
        if not isinstance(value, KEYS[key]):
            raise UserError(f"{path}: {key} must be a string, like {key} = \"...\"", 2)
        setattr(config, key, value)
    if config.unknown:
        raise UserError(f"{path}: unknown setting {', '.join(config.unknown)} (known: {', '.join(KEYS)})", 2)
    return config
