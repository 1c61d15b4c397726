"""Load a compose project: the pipeline from files and options to a `Project`.

    options ─▶ find files ─▶ project env (.env / --env-file, OS wins)
      for each file: read YAML 1.2 ─▶ drop `version` (warn) ─▶ interpolate
                     ─▶ canonicalize ─▶ include ─▶ merge ─▶ extends
      ─▶ project name ─▶ profiles ─▶ normalize ─▶ models ─▶ consistency

Errors anywhere are `ComposeError`s; those raised with only a key path are
located here (file and line) from the line index of every file read.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .dotenv import read_dotenv
from .errors import ComposeError, KeyPath
from .extends import Extender
from .interpolate import interpolate
from .merge import enforce_unicity, merge_documents, strip_tags
from .models import Project, ServiceConfig
from .normalize import absolute, normalize, resolve_service_paths, resolve_top_level_paths
from .transform import canonical_file
from .validate import build_project, check_consistency, error_from_validation
from .yamlio import LineIndex, read_yaml

DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
OVERRIDE_FILES = (
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yaml",
    "docker-compose.override.yml",
)
_VALID_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_NAME_DROP = re.compile(r"[^a-z0-9_-]")


@dataclass
class ProjectOptions:
    """What the user asked for: `-f`, `-p`, `--project-directory`, `--env-file`, `--profile`."""

    files: list[Path] = field(default_factory=list)
    project_name: str | None = None
    project_directory: Path | None = None
    env_files: list[Path] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    working_dir: Path | None = None
    interpolate: bool = True


@dataclass
class _Source:
    display: str
    lines: LineIndex


def normalize_project_name(name: str) -> str:
    """Lowercase and keep `[a-z0-9_-]`, starting with a letter or digit (compose's rule)."""
    return _NAME_DROP.sub("", name.lower()).lstrip("_-")


def _check_name(name: str, origin: str) -> str:
    if not _VALID_NAME.match(name):
        raise ComposeError(
            f'invalid project name "{name}" ({origin}): must consist only of lowercase alphanumeric '
            "characters, hyphens, and underscores as well as start with a letter or number"
        )
    return name


class _Loader:
    """State of one load: environment, warnings and every file read."""

    def __init__(self, options: ProjectOptions) -> None:
        self.options = options
        self.cwd = (options.working_dir or Path.cwd()).resolve()
        self.warnings: list[str] = []
        self.sources: list[_Source] = []
        self._warned: set[str] = set()

    # -- helpers -----------------------------------------------------------
    def warn(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            self.warnings.append(message)

    def display(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.cwd))
        except ValueError:
            return str(path)

    def locate(self, exc: ComposeError) -> ComposeError:
        """Fill in file and line of an error that only knows its key path."""
        if exc.file is not None:
            return exc
        path: KeyPath | None = getattr(exc, "key_path", None) or exc.path
        if not path:
            return exc
        best: tuple[int, _Source, int] | None = None
        for source in reversed(self.sources):
            for n in range(len(path), 0, -1):
                line = source.lines.get(path[:n])
                if line is not None:
                    if best is None or n > best[0]:
                        best = (n, source, line)
                    break
        if best is not None:
            exc.file, exc.line = best[1].display, best[2]
        return exc

    # -- files ---------------------------------------------------------------
    def find_files(self) -> list[Path]:
        opts = self.options
        if opts.files:
            return [(self.cwd / f).resolve() if not f.is_absolute() else f for f in opts.files]
        env_files = opts.environ.get("COMPOSE_FILE")
        if env_files:
            sep = opts.environ.get("COMPOSE_PATH_SEPARATOR", os.pathsep)
            return [(self.cwd / f).resolve() for f in env_files.split(sep) if f]
        directory = self.cwd
        while True:
            for name in DEFAULT_FILES:
                candidate = directory / name
                if candidate.is_file():
                    found = [candidate]
                    for override in OVERRIDE_FILES:
                        if (directory / override).is_file():
                            found.append(directory / override)
                            break
                    return found
            if directory.parent == directory:
                break
            directory = directory.parent
        raise ComposeError("no configuration file provided: not found")

    def read_canonical(self, path: Path, env: Mapping[str, str]) -> dict[str, Any]:
        """Parse, interpolate and canonicalize one file."""
        display = self.display(path)
        data, lines = read_yaml(path, display)
        source = _Source(display, lines)
        self.sources.append(source)
        if data is None:
            raise ComposeError("empty compose file", file=display)
        if not isinstance(data, dict):
            raise ComposeError("top-level object must be a mapping", file=display, line=1)
        if "version" in data:
            self.warn(
                f"{path}: the attribute `version` is obsolete, it will be ignored, "
                "please remove it to avoid potential confusion"
            )
            data.pop("version")
        try:
            if self.options.interpolate:
                data = interpolate(data, env, self.warn)
            return enforce_unicity(canonical_file(data))
        except ComposeError as exc:
            if exc.file is None and exc.path:
                line = None
                for n in range(len(exc.path), 0, -1):
                    line = lines.get(exc.path[:n])
                    if line is not None:
                        break
                exc.located(display, line)
            raise

    def load_model(self, files: list[Path], env: Mapping[str, str]) -> dict[str, Any]:
        """Merge files (with their includes and extends) into one canonical document."""
        cache: dict[Path, dict[str, Any]] = {}

        def read_base(path: Path) -> dict[str, Any]:
            if path not in cache:
                cache[path] = self.read_canonical(path, env)
            return copy.deepcopy(cache[path])

        extender = Extender(read_base, env)
        model: dict[str, Any] | None = None
        for path in files:
            doc = self.read_canonical(path, env)
            includes = doc.pop("include", None)
            if includes:
                self.apply_includes(doc, includes, path.parent, env)
            model = strip_tags(doc) if model is None else merge_documents(model, doc)
            extender.apply(model, path.parent, str(path))
        return model or {}

    def apply_includes(
        self, doc: dict[str, Any], includes: list[dict[str, Any]], base: Path, env: Mapping[str, str]
    ) -> None:
        for i, entry in enumerate(includes):
            paths = [Path(absolute(p, base, env)) for p in entry["path"]]
            project_dir = Path(absolute(entry["project_directory"], base, env)) if entry.get(
                "project_directory"
            ) else paths[0].parent
            sub_env = dict(env)
            env_files = [Path(absolute(p, project_dir, env)) for p in entry.get("env_file") or ()]
            if not env_files and (project_dir / ".env").is_file():
                env_files = [project_dir / ".env"]
            for env_file in env_files:
                for key, value in read_dotenv(env_file, sub_env.get).items():
                    sub_env.setdefault(key, value)
            for p in paths:
                if not p.is_file():
                    raise ComposeError(f"include: no such file {p}", path=("include", i))
            included = self.load_model(paths, sub_env)
            for svc in (included.get("services") or {}).values():
                resolve_service_paths(svc, project_dir, sub_env)
            resolve_top_level_paths(included, project_dir, sub_env)
            for section in ("services", "networks", "volumes", "secrets", "configs", "models"):
                for key, value in (included.get(section) or {}).items():
                    mine = doc.setdefault(section, {}) or {}
                    doc[section] = mine
                    if key in mine and mine[key] != value:
                        raise ComposeError(
                            f"{section}.{key} conflicts with imported resource", path=("include", i)
                        )
                    mine[key] = value

    # -- environment and name -----------------------------------------------------
    def project_env(self, project_dir: Path) -> dict[str, str]:
        """OS environment over `.env` (or `--env-file`s): the OS always wins."""
        os_env = dict(self.options.environ)
        if self.options.env_files:
            files = [(self.cwd / f) if not f.is_absolute() else f for f in self.options.env_files]
            for f in files:
                if not f.is_file():
                    raise ComposeError(f"couldn't find env file: {f}")
        elif os_env.get("COMPOSE_DISABLE_ENV_FILE", "").lower() in ("1", "true"):
            files = []
        else:
            default = project_dir / ".env"
            files = [default] if default.is_file() else []
        dotenv: dict[str, str] = {}
        for f in files:

            def lookup(key: str) -> str | None:
                return os_env.get(key, dotenv.get(key))

            dotenv.update(read_dotenv(f, lookup, self.display(f)))
        return {**dotenv, **os_env}

    def project_name(self, model: dict[str, Any], env: Mapping[str, str], project_dir: Path) -> str:
        if self.options.project_name:
            return _check_name(self.options.project_name, "from -p")
        if env.get("COMPOSE_PROJECT_NAME"):
            return _check_name(env["COMPOSE_PROJECT_NAME"], "from COMPOSE_PROJECT_NAME")
        declared = model.get("name")
        if declared:
            return _check_name(str(declared), "from the top-level name")
        name = normalize_project_name(project_dir.name)
        if not name:
            raise ComposeError(
                f'project name derived from directory "{project_dir.name}" is empty; use -p or the top-level name'
            )
        return name

    # -- the pipeline ------------------------------------------------------------
    def load(self) -> Project:
        files = self.find_files()
        opts = self.options
        project_dir = (
            (self.cwd / opts.project_directory).resolve() if opts.project_directory else files[0].parent
        )
        env = self.project_env(project_dir)
        model = self.load_model(files, env)
        name = self.project_name(model, env, project_dir)
        model["name"] = name

        profiles = list(opts.profiles) or [
            p.strip() for p in env.get("COMPOSE_PROFILES", "").split(",") if p.strip()
        ]
        services = model.get("services") or {}
        enabled, disabled = {}, {}
        for svc_name, svc in services.items():
            wanted = svc.get("profiles") or []
            if not wanted or "*" in profiles or set(wanted) & set(profiles):
                enabled[svc_name] = svc
            else:
                disabled[svc_name] = svc
        model["services"] = enabled
        normalize(model, name, project_dir, env)
        project = build_project(model)
        for svc_name, svc in disabled.items():
            try:
                project.disabled_services[svc_name] = ServiceConfig.model_validate(svc)
            except ValidationError as exc:
                raise error_from_validation(exc, svc, ("services", svc_name)) from None
        project.working_dir = str(project_dir)
        project.compose_files = [str(f) for f in files]
        project.environment = dict(env)
        project.warnings = list(self.warnings)
        check_consistency(project)
        return project


def load_project(options: ProjectOptions) -> Project:
    """Load, merge, normalize and check a compose project (raises ComposeError)."""
    loader = _Loader(options)
    try:
        return loader.load()
    except ComposeError as exc:
        raise loader.locate(exc) from None
