"""The deployment files agree with each other and with the code, checked without a Docker engine:
Dockerfile (hadolint, what it copies, its ENV defaults), supervisord.conf, render.yaml and the documentation
(README.md, docs/)."""

from __future__ import annotations

import configparser
import importlib.util
import itertools
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any

import yaml
from packaging.specifiers import SpecifierSet

from common.settings import SETTINGS, Settings
from devtools.environment import REPO

HADOLINT = Path(sys.executable).parent / "hadolint"
RENDER_MAX_SHUTDOWN_DELAY = 300  # Render's Blueprint spec: maxShutdownDelaySeconds is 1..300
SUPERVISOR_DEFAULT_STOPWAITSECS = 10
# Executables supervisord.conf may run and what puts them into the image.
IMAGE_EXECUTABLES = {
    "python": "the python:3.12-slim base image (and /opt/venv)",
    "nice": "coreutils, in every Debian image",
    "waitress-serve": "the waitress dependency of pyproject.toml",
    "redis-server": "apt-get install redis-server in the Dockerfile",
}


# ---------------------------------------------------------------- reading the Dockerfile


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


@dataclass
class Stage:
    """One FROM of the Dockerfile: its base, instructions and the files it holds (image path -> repository file)."""

    name: str
    base: str
    instructions: list[Instruction] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    workdir: PurePosixPath = field(default_factory=lambda: PurePosixPath("/"))
    image_files: dict[PurePosixPath, Path] = field(default_factory=dict)


@dataclass
class Dockerfile:
    """What the Dockerfile declares, as far as these checks need it: the final stage's instructions, ENV,
    WORKDIR and files (those copied from an earlier stage followed back to the build context), the COPYs
    from the build context in every stage, and the ARG defaults declared before the first FROM."""

    instructions: list[Instruction]
    stages: list[Stage] = field(default_factory=list)
    args: dict[str, str] = field(default_factory=dict)
    copies: list[tuple[list[str], PurePosixPath]] = field(default_factory=list)

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    @property
    def env(self) -> dict[str, str]:
        return self.final.env

    @property
    def workdir(self) -> PurePosixPath:
        return self.final.workdir

    @property
    def image_files(self) -> dict[PurePosixPath, Path]:
        return self.final.image_files

    def only(self, keyword: str) -> Instruction:
        found = [i for i in self.final.instructions if i.keyword == keyword]
        assert len(found) == 1, f"the Dockerfile's final stage needs exactly one {keyword}, found {len(found)}"
        return found[0]

    def runs(self) -> str:
        return "\n".join(i.args for i in self.final.instructions if i.keyword == "RUN")

    def resolve(self, text: str) -> str:
        return re.sub(r"\$\{?(\w+)\}?", lambda m: self.args.get(m.group(1), m.group(0)), text)


def instructions(text: str) -> list[Instruction]:
    """Dockerfile instructions with their line continuations joined and comment lines dropped."""
    found: list[Instruction] = []
    pending = ""
    for line in text.splitlines():
        if line.strip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        if whole:
            keyword, _, args = whole.partition(" ")
            found.append(Instruction(keyword.upper(), args.strip()))
    return found


def exec_form(args: str) -> list[str]:
    """The JSON (exec) form of CMD/HEALTHCHECK CMD; fails on the shell form."""
    parsed = json.loads(args)
    assert isinstance(parsed, list) and all(isinstance(a, str) for a in parsed), f"not exec form: {args}"
    return parsed


def env_pairs(args: str) -> dict[str, str]:
    words = shlex.split(args)
    if "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    return dict(word.split("=", 1) for word in words)


def _ignore_regex(pattern: str) -> re.Pattern[str]:
    parts = []
    for segment in pattern.strip("/").split("/"):
        if segment == "**":
            parts.append("(?:[^/]+/)*")
            continue
        parts.append("".join("[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c) for c in segment) + "/")
    return re.compile("".join(parts).rstrip("/") + r"(?:/.*)?\Z")


@cache
def dockerignore() -> tuple[tuple[bool, re.Pattern[str]], ...]:
    rules = []
    path = REPO / ".dockerignore"
    for line in path.read_text().splitlines() if path.exists() else []:
        line = line.strip()
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            rules.append((negated, _ignore_regex(line.lstrip("!"))))
    return tuple(rules)


def ignored(relative: str) -> bool:
    """Whether .dockerignore keeps this path (relative to the build context) out of the context."""
    verdict = False
    for negated, regex in dockerignore():
        if regex.match(relative):
            verdict = not negated
    return verdict


@cache
def build_stage() -> ModuleType:
    """docker/build_stage.py, which the Dockerfile's build stage runs to lay out /app."""
    spec = importlib.util.spec_from_file_location("build_stage", REPO / "docker" / "build_stage.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def context_files(directory: Path) -> list[Path]:
    """The files under `directory` that reach the build context (ignored directories are not descended into)."""
    found: list[Path] = []
    for top, dirs, files in os.walk(directory):
        relative = Path(top).relative_to(REPO).as_posix()
        prefix = "" if relative == "." else f"{relative}/"
        dirs[:] = sorted(d for d in dirs if not ignored(prefix + d))
        found += [Path(top) / f for f in sorted(files) if not ignored(prefix + f)]
    return found


def _copy_from_context(parsed: Dockerfile, stage: Stage, args: str) -> None:
    words = exec_form(args) if args.startswith("[") else shlex.split(args)
    words = [w for w in words if not w.startswith("--")]
    sources, dest = words[:-1], words[-1]
    target = stage.workdir / dest
    parsed.copies.append((sources, target))
    for source in sources:
        origin = (REPO / source).resolve()
        if origin.is_dir():
            for file in context_files(origin):
                stage.image_files[target / file.relative_to(origin).as_posix()] = file
        elif origin.is_file():
            into_dir = dest.endswith("/") or len(sources) > 1
            stage.image_files[target / origin.name if into_dir else target] = origin


def _copy_from_stage(parsed: Dockerfile, stage: Stage, args: str) -> None:
    """COPY --from=STAGE: the files that stage holds under each source, at the destination."""
    words = shlex.split(args)
    origin = next(earlier for earlier in parsed.stages if f"--from={earlier.name}" in words)
    *sources, dest = [w for w in words if not w.startswith("--")]
    for source in sources:
        root = origin.workdir / source
        for path, file in origin.image_files.items():
            if path == root or root in path.parents:
                stage.image_files[stage.workdir / dest / path.relative_to(root)] = file


def _lay_out_app(stage: Stage, src: PurePosixPath, app: PurePosixPath) -> None:
    """What `python docker/build_stage.py app SRC APP` copies: pyproject's service packages and APP_FILES."""
    module = build_stage()
    names = [*module.service_packages(REPO / "pyproject.toml"), *module.APP_FILES]
    for path, file in list(stage.image_files.items()):
        for name in names:
            root = src / name
            if (path == root or root in path.parents) and "__pycache__" not in path.parts:
                stage.image_files[app / path.relative_to(src)] = file


@cache
def dockerfile() -> Dockerfile:
    parsed = Dockerfile(instructions((REPO / "Dockerfile").read_text()))
    for step in parsed.instructions:
        if step.keyword == "ARG" and not parsed.stages:
            name, _, default = step.args.partition("=")
            parsed.args[name.strip()] = default.strip()
            continue
        if step.keyword == "FROM":
            words = step.args.split()
            base = parsed.resolve(words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else str(len(parsed.stages))
            parsed.stages.append(Stage(name, base))
            continue
        assert parsed.stages, f"{step.keyword} before the first FROM"
        stage = parsed.stages[-1]
        stage.instructions.append(step)
        if step.keyword == "ENV":
            stage.env.update(env_pairs(step.args))
        elif step.keyword == "WORKDIR":
            stage.workdir = stage.workdir / step.args
        elif step.keyword in ("COPY", "ADD") and "--from=" in step.args:
            _copy_from_stage(parsed, stage, step.args)
        elif step.keyword in ("COPY", "ADD"):
            _copy_from_context(parsed, stage, step.args)
        elif step.keyword == "RUN":
            for src, app in re.findall(r"build_stage\.py app (\S+) (\S+)", step.args):
                _lay_out_app(stage, stage.workdir / src, stage.workdir / app)
    parsed.instructions = parsed.final.instructions
    return parsed


def in_image(path: PurePosixPath) -> bool:
    files = dockerfile().image_files
    return path in files or any(path in f.parents for f in files)


# ---------------------------------------------------------------- supervisord.conf, the entrypoint, render.yaml


@cache
def supervisor_config() -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser()
    parser.read(REPO / "supervisord.conf")
    return parser


def supervisor_env_names() -> set[str]:
    return set(re.findall(r"%\(ENV_([A-Za-z0-9_]+)\)s", (REPO / "supervisord.conf").read_text().split("\n[", 1)[1]))


def program_sections() -> list[str]:
    return [s for s in supervisor_config().sections() if s.startswith(("program:", "eventlistener:"))]


def stopwaitsecs_sum(job_timeout: int) -> int:
    """The shutdown budget read from supervisord.conf: groups stop one after another, each within its stopwaitsecs."""
    expansions = {"ENV_WORKER_STOPWAITSECS": str(job_timeout + entrypoint().WORKER_STOP_GRACE)}
    config = supervisor_config()
    return sum(int(config.get(s, "stopwaitsecs", fallback=str(SUPERVISOR_DEFAULT_STOPWAITSECS)) % expansions)
               for s in program_sections())


@cache
def entrypoint() -> ModuleType:
    spec = importlib.util.spec_from_file_location("entrypoint", REPO / "scripts" / "entrypoint.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@cache
def render() -> dict[str, Any]:
    return yaml.safe_load((REPO / "render.yaml").read_text())


def render_service(kind: str) -> dict[str, Any]:
    found = [s for s in render()["services"] if s.get("type") == kind]
    assert len(found) == 1, f"render.yaml needs exactly one service of type {kind}, found {len(found)}"
    return found[0]


def render_env(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["key"]: entry for entry in service.get("envVars", [])}


def setting_default(name: str) -> Any:
    return getattr(Settings.from_env({}), next(s.field for s in SETTINGS if s.name == name))


# ---------------------------------------------------------------- the Dockerfile


def test_hadolint_passes_at_warning_threshold() -> None:
    """hadolint finds nothing at warning level or above in the Dockerfile."""
    done = subprocess.run([str(HADOLINT), "--failure-threshold", "warning", str(REPO / "Dockerfile")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_copied_file_exists_and_reaches_the_build_context() -> None:
    """Each COPY source exists in the repository and is not excluded by .dockerignore."""
    assert dockerfile().copies, "the Dockerfile copies nothing"
    for sources, _ in dockerfile().copies:
        for source in sources:
            assert (REPO / source).exists(), f"COPY {source}: no such file in the repository"
            assert not ignored(source.rstrip("/")), f"COPY {source}: excluded by .dockerignore"
            copied = [f for stage in dockerfile().stages for f in stage.image_files.values()
                      if f == REPO / source or REPO / source in f.parents]
            assert copied, f"COPY {source}: copies no file"


def test_the_image_holds_what_cmd_and_supervisord_conf_run() -> None:
    """CMD's script, supervisord.conf (also at /etc/supervisor) and every program's module are in the image."""
    image = dockerfile()
    command = exec_form(image.only("CMD").args)
    assert command[0] == "python", command
    script = image.workdir / command[1]
    assert in_image(script), f"CMD runs {script}, which the Dockerfile does not copy"
    app_dir = script.parent.parent  # scripts/entrypoint.py: APP_DIR is the parent of scripts/
    assert in_image(app_dir / "supervisord.conf"), "the entrypoint reads APP_DIR/supervisord.conf; not copied"
    assert image.env.get("APP_DIR") == str(app_dir) == str(image.workdir)
    link = re.search(r"ln -s (\S+) /etc/supervisor/supervisord\.conf", image.runs())
    assert link and in_image(PurePosixPath(link.group(1))), "/etc/supervisor/supervisord.conf must lead to the config"
    for section in program_sections():
        config = supervisor_config()
        words = shlex.split(config.get(section, "command").replace("\n", " "))
        directory = PurePosixPath(config.get(section, "directory", fallback="/").replace("%(ENV_APP_DIR)s",
                                                                                         str(app_dir)))
        executables = [w for w in words if w in IMAGE_EXECUTABLES or w == words[0]]
        for executable in executables:
            assert executable in IMAGE_EXECUTABLES, f"[{section}] runs {executable}; is it in the image?"
        if "redis-server" in words:
            assert re.search(r"apt-get install[^&;]*\bredis-server\b", image.runs()), "redis-server is not installed"
        for flag, value in itertools.pairwise(words):
            if flag == "-m":
                module = directory / value.replace(".", "/")
                assert in_image(module / "__main__.py") or in_image(module.with_suffix(".py")), \
                    f"[{section}] runs python -m {value}, not in the image"
            if flag == "--call":
                package = directory / value.split(":")[0].replace(".", "/")
                assert in_image(package / "__init__.py") or in_image(package.with_suffix(".py")), \
                    f"[{section}] serves {value}, not in the image"
        for script_arg in (w for w in words if w.endswith(".py")):
            assert in_image(directory / script_arg), f"[{section}] runs {script_arg}, not in the image"


def test_every_supervisord_variable_has_a_dockerfile_default() -> None:
    """Each %(ENV_X)s in supervisord.conf has an ENV default, so supervisord and supervisorctl parse it anywhere."""
    missing = sorted(supervisor_env_names() - set(dockerfile().env))
    assert not missing, f"supervisord.conf expands {missing}, which the Dockerfile gives no ENV default"


def test_dockerfile_defaults_are_what_the_entrypoint_computes() -> None:
    """The ENV defaults equal the entrypoint's values, and settings with computed defaults stay unset."""
    image_env = dockerfile().env
    settings = Settings.from_env({k: v for k, v in image_env.items() if k in {s.name for s in SETTINGS}})
    computed = entrypoint().environment(settings)
    # REDIS_MAXMEMORY follows the cgroup memory limit of where it runs (the image's ENV: no limit's value)
    for name in supervisor_env_names() - {"APP_DIR", "WORKER_NUMPROCS", "REDIS_MAXMEMORY"}:
        assert image_env[name] == computed[name], f"ENV {name}={image_env[name]}; the entrypoint: {computed[name]}"
    overridden = {"WORKER_COUNT", "THREADS_PER_JOB", "STUCK_JOB_TIMEOUT"} & set(image_env)
    assert not overridden, f"ENV {sorted(overridden)} would replace defaults computed at start"


def test_dockerfile_python_is_pyproject_python() -> None:
    """The default base (ARG BASE) is python:X.Y-slim with X.Y the lowest version pyproject's requires-python
    allows, and every stage starts from it (the final stage runs the venv the build stage made)."""
    image = dockerfile()
    bases = {stage.base for stage in image.stages}
    assert len(bases) == 1, f"every stage must start FROM the same base, found {sorted(bases)}"
    base = bases.pop()
    assert all(i.args.split()[0] == "${BASE}" for i in instructions((REPO / "Dockerfile").read_text())
               if i.keyword == "FROM"), "FROM ${BASE}: the base is a build argument"
    match = re.fullmatch(r"python:(\d+\.\d+)(?:\.\d+)?-slim\S*", base)
    assert match, f"ARG BASE={base}: expected python:X.Y-slim"
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    requires = project["project"]["requires-python"]
    lowest = re.search(r">=\s*(\d+\.\d+)", requires)
    assert lowest and lowest.group(1) == match.group(1), f"FROM {base}, requires-python {requires}"
    assert SpecifierSet(requires).contains(f"{match.group(1)}.0")
    assert project["tool"]["mypy"]["python_version"] == match.group(1)


def test_the_image_holds_every_service_package_of_pyproject_and_not_the_harness() -> None:
    """Every top-level package [tool.setuptools.packages.find] includes, except devtools (tests and bench
    only), is in /app with its modules; devtools, tests and bench are not in the image."""
    image = dockerfile()
    include = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.split(".")[0].rstrip("*") for pattern in include} - {"devtools"}
    assert packages, "pyproject lists no package"
    for package in sorted(packages):
        modules = [f for f in (REPO / package).rglob("*.py") if "__pycache__" not in f.parts]
        assert modules, f"pyproject includes {package}*, which has no module"
        for module in modules:
            assert in_image(image.workdir / module.relative_to(REPO).as_posix()), f"{module} is not in the image"
    for harness in ("devtools", "tests", "bench"):
        assert not in_image(image.workdir / harness), f"the image ships {harness}/"


def test_image_runs_unprivileged_with_data_volume_port_and_health_check() -> None:
    """Numeric non-root USER, VOLUME DATA_DIR, EXPOSE PORT and a Python HEALTHCHECK of /ping in exec form."""
    image = dockerfile()
    user = image.only("USER").args
    assert re.fullmatch(r"[0-9]+(:[0-9]+)?", user) and int(user.split(":")[0]) != 0, f"USER {user}"
    volume = image.only("VOLUME").args
    volumes = exec_form(volume) if volume.startswith("[") else volume.split()
    assert image.env["DATA_DIR"] in volumes
    assert re.search(rf"chown {re.escape(user)} {re.escape(image.env['DATA_DIR'])}\b", image.runs()), \
        f"DATA_DIR {image.env['DATA_DIR']} must belong to USER {user}"
    assert image.env["PORT"] in image.only("EXPOSE").args.split()
    health = image.only("HEALTHCHECK").args
    probe = exec_form(health[health.index("CMD") + len("CMD"):].strip())
    assert probe[0] == "python" and "/ping" in " ".join(probe), probe


# ---------------------------------------------------------------- render.yaml and the shutdown budget


def test_render_keyvalue_keeps_every_key_and_is_private() -> None:
    """The Key Value instance never evicts (RQ's jobs live there) and allows no external connection."""
    store = render_service("keyvalue")
    assert store.get("maxmemoryPolicy") == "noeviction"
    assert store.get("ipAllowList") == []


def test_render_web_service_builds_the_dockerfile_and_wires_redis_and_api_key() -> None:
    """The web service is the Docker image, health-checked on /ping, with a generated API_KEY and the Key Value URL."""
    web = render_service("web")
    assert web.get("runtime") == "docker"
    assert web.get("healthCheckPath") == "/ping"
    env = render_env(web)
    assert env["API_KEY"] == {"key": "API_KEY", "generateValue": True}
    assert env["REDIS_URL"] == {"key": "REDIS_URL", "fromService": {
        "type": "keyvalue", "name": render_service("keyvalue")["name"], "property": "connectionString"}}


def test_render_settings_are_known_valid_and_hold_no_secret() -> None:
    """render.yaml sets only documented settings, with valid values, and never a literal key or URL."""
    env = render_env(render_service("web"))
    unknown = set(env) - {s.name for s in SETTINGS}
    assert not unknown, f"render.yaml sets unknown variables {sorted(unknown)}"
    literal = {key: str(entry["value"]) for key, entry in env.items() if "value" in entry}
    assert not {"API_KEY", "REDIS_URL"} & set(literal), "secrets must be generated or referenced, not written"
    Settings.from_env(literal)


def test_render_shutdown_delay_covers_the_shutdown_budget() -> None:
    """maxShutdownDelaySeconds is within Render's limit and at least the sum of stopwaitsecs at its JOB_TIMEOUT."""
    web = render_service("web")
    delay = web.get("maxShutdownDelaySeconds")
    entry = render_env(web).get("JOB_TIMEOUT")
    job_timeout = int(entry["value"]) if entry else setting_default("JOB_TIMEOUT")
    budget = stopwaitsecs_sum(job_timeout)
    assert isinstance(delay, int) and budget <= delay <= RENDER_MAX_SHUTDOWN_DELAY, \
        f"maxShutdownDelaySeconds {delay}: budget at JOB_TIMEOUT={job_timeout} is {budget} s; Render allows 1..300"


def test_entrypoint_budget_is_the_sum_of_stopwaitsecs() -> None:
    """SHUTDOWN_BUDGET_SECONDS from the entrypoint equals the stopwaitsecs in supervisord.conf added up."""
    for job_timeout in (60, 180, 600):
        settings = Settings.from_env({"JOB_TIMEOUT": str(job_timeout), "DATA_DIR": "/data"})
        computed = entrypoint().environment(settings)
        assert int(computed["SHUTDOWN_BUDGET_SECONDS"]) == stopwaitsecs_sum(job_timeout)


def test_documented_docker_stop_timeout_covers_the_default_budget() -> None:
    """Every `--stop-timeout N` shown in the README, the docs pages and the Dockerfile is at least the default
    shutdown budget; the README, the Deploy page and the Dockerfile each show one."""
    budget = stopwaitsecs_sum(setting_default("JOB_TIMEOUT"))
    documents = ["README.md", "Dockerfile", *sorted(str(p.relative_to(REPO)) for p in (REPO / "docs").rglob("*.md"))]
    for name in documents:
        shown = [int(n) for n in re.findall(r"--stop-timeout[ =](\d+)", (REPO / name).read_text())]
        if name in ("README.md", "Dockerfile", "docs/deploy.md"):
            assert shown, f"{name} shows no docker run --stop-timeout"
        assert not shown or min(shown) >= budget, f"{name}: --stop-timeout {min(shown)} < shutdown budget {budget} s"
