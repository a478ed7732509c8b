"""The Dockerfile's build stage: lay out /app (what the service runs from) and trim /opt/venv to what the
service uses at run time, so that the final stage copies only those two directories (docs/image.md).

  python docker/build_stage.py app SRC APP     supervisord.conf, scripts/ and every service package into APP
  python docker/build_stage.py slim VENV       drop tests directories, build headers, Cython sources, bytecode
  PYTHONPATH=APP python docker/build_stage.py bytecode VENV APP   compile what the service imports, nothing more

Standard library only: it runs with the base image's Python. tests/contract/test_deploy_contract.py reads
`service_packages` (every package pyproject's [tool.setuptools.packages.find] includes, except the test
harness), so a package added there reaches the image without touching the Dockerfile.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import py_compile
import shutil
import sys
import tomllib
from pathlib import Path

# Packages pyproject lists that the image does not ship: the test and benchmark harness.
NOT_SHIPPED = frozenset({"devtools"})
# Besides the packages: what supervisord.conf and the Dockerfile's CMD run from APP_DIR.
APP_FILES = ("supervisord.conf", "scripts")
# What the service imports beyond its own packages' module-level imports: the workers load these when they
# take their first job (worker/plot_loading.py: shap and matplotlib's Agg backend), the web and CLIs at start.
RUNTIME_IMPORTS = (
    "catboost", "numpy", "pandas", "pyarrow", "pyarrow.parquet", "pyarrow.ipc", "pyarrow.csv", "shap",
    "shap.plots", "sklearn", "scipy", "matplotlib", "matplotlib.pyplot", "matplotlib.backends.backend_agg",
    "matplotlib.backends.backend_svg", "redis", "hiredis", "rq", "rq.worker", "rq_scheduler",
    "rq_scheduler.scheduler", "flask", "waitress", "waitress.runner", "supervisor.supervisord",
    "supervisor.supervisorctl", "supervisor.childutils", "pydantic", "orjson", "prometheus_client",
    "prometheus_client.multiprocess", "spectree",
)


def service_packages(pyproject: Path) -> list[str]:
    """Top-level packages of [tool.setuptools.packages.find] `include` (patterns like "common*"), minus
    NOT_SHIPPED, in pyproject's order."""
    include = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    names: list[str] = []
    for pattern in include:
        name = pattern.split(".")[0].rstrip("*")
        if name and name not in NOT_SHIPPED and name not in names:
            names.append(name)
    return names


def lay_out_app(src: Path, app: Path) -> None:
    """Copy the service's packages and APP_FILES from the build context SRC into APP."""
    app.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in [*service_packages(src / "pyproject.toml"), *APP_FILES]:
        origin = src / name
        if origin.is_dir():
            if not (origin / "__init__.py").exists() and name not in APP_FILES:
                raise SystemExit(f"build_stage: pyproject lists package {name}, but {origin} has no __init__.py")
            shutil.copytree(origin, app / name, ignore=ignore)
        elif origin.is_file():
            shutil.copy2(origin, app / name)
        else:
            raise SystemExit(f"build_stage: {name} is not in the build context (.dockerignore?)")
        print(f"build_stage: /app/{name}")


def site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python3*/site-packages"))
    if len(found) != 1:
        raise SystemExit(f"build_stage: expected one site-packages in {venv}, found {found}")
    return found[0]


# Inside site-packages: what the service never loads. C headers for building against numpy and pyarrow, and
# Arrow Flight (RPC; 33 MB): pyarrow loads it only on `import pyarrow.flight`, which nothing here does (the
# parquet, dataset, compute, csv, ipc and fs modules do not link it).
UNUSED = ("pyarrow/include", "numpy/_core/include", "pyarrow/libarrow_flight.so*", "pyarrow/_flight.*.so",
          "pyarrow/flight.py")


def slim(venv: Path) -> None:
    """Remove what no import at run time reads: test suites shipped inside packages, UNUSED, Cython sources,
    and all bytecode (`bytecode` then compiles what the service imports)."""
    site = site_packages(venv)
    doomed: list[Path] = [p for p in site.rglob("*") if p.is_dir() and p.name in ("tests", "__pycache__")]
    doomed += [p for pattern in UNUSED for p in site.glob(pattern)]
    doomed += [p for p in site.rglob("*") if p.is_file() and p.suffix in (".pyx", ".pxd", ".pxi")]
    freed = 0
    for path in doomed:
        if not path.exists():  # inside a directory removed before
            continue
        if path.is_dir():
            freed += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
            shutil.rmtree(path)
        else:
            freed += path.stat().st_size
            path.unlink()
    print(f"build_stage: removed {freed / 1e6:.0f} MB (tests, headers, Arrow Flight, Cython sources, bytecode) "
          f"from {site}")


def compile_used(venv: Path, app: Path) -> None:
    """Import what the service imports (from APP first, as supervisord runs it) and write the bytecode of exactly
    those modules, hash-checked (no dependence on file times after COPY). Modules imported only later still
    work; they are compiled in memory when imported, as every module is under PYTHONDONTWRITEBYTECODE."""
    for name in RUNTIME_IMPORTS:
        importlib.import_module(name)
    for package in service_packages_in(app):
        module = importlib.import_module(package)
        if Path(app).resolve() not in Path(module.__file__ or "").resolve().parents:
            raise SystemExit(f"build_stage: {package} imported from {module.__file__}, not {app}: "
                             f"run with PYTHONPATH={app}, as supervisord runs the service from there")
        for info in pkgutil.walk_packages(module.__path__, prefix=f"{package}."):
            if not info.name.endswith(".__main__"):
                importlib.import_module(info.name)
    roots = (venv.resolve(), app.resolve())
    compiled = 0
    for module in list(sys.modules.values()):
        source = getattr(module, "__file__", None)
        if not source or not source.endswith(".py"):
            continue
        path = Path(source).resolve()
        if any(root in path.parents for root in roots):
            py_compile.compile(str(path), cfile=importlib.util.cache_from_source(str(path)), doraise=True,
                               invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
            compiled += 1
    print(f"build_stage: compiled {compiled} modules the service imports")


def service_packages_in(app: Path) -> list[str]:
    return [p.name for p in sorted(app.iterdir()) if (p / "__init__.py").exists() and p.name not in APP_FILES]


def main(argv: list[str]) -> None:
    match argv:
        case ["app", src, app]:
            lay_out_app(Path(src), Path(app))
        case ["slim", venv]:
            slim(Path(venv))
        case ["bytecode", venv, app]:
            compile_used(Path(venv), Path(app))
        case _:
            raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
