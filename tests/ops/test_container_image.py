"""The container image without a container engine (none runs here): the Dockerfile's steps
are checked against what CI installs, and the image's files and commands are run as they
would run in it.

- the Debian packages it installs are those .ci/run installs for the app (WeasyPrint's Pango
  and a font; not CI's browser and benchmark tools), its Python is pyproject's and the venv's;
- its final stage, assembled from the Dockerfile's own COPY lines into a directory and run
  from there with its ENV (no pip install of the project: the code runs from /app), serves:
  the migrations (compose.yaml's one-shot service), gunicorn with its CMD, the HEALTHCHECK
  command on /healthz and compose's on /readyz, a mail worker; and nothing writes into the
  code's directory (in the image it belongs to root, the processes run as another user).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.ops.conftest import create_database, needs_postgres, server_env
from tests.processes import PROJECT_ROOT, free_port, wait_for

DOCKERFILE = (PROJECT_ROOT / "Dockerfile").read_text()
COMPOSE = (PROJECT_ROOT / "compose.yaml").read_text()
CI_ONLY = {"chromium", "wrk", "dovecot-imapd"}  # the browser tests' browser, the benchmark's load generator, the mail-sync tests' IMAP server
BIN = Path(sys.executable).parent


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line.strip() else "")
            for line in joined.splitlines() if line.strip()]


def final_stage() -> list[tuple[str, str]]:
    steps = instructions(DOCKERFILE)
    last_from = max(i for i, (name, _) in enumerate(steps) if name == "FROM")
    return steps[last_from + 1:]


def apt_packages(text: str) -> set[str]:
    found = set()
    for command in re.findall(r"apt-get install ([^&|;>\n]+)", re.sub(r"\\\n\s*", " ", text)):
        found |= {word for word in command.split() if not word.startswith("-") and not word.startswith("$")}
    return found


def test_the_image_installs_the_system_packages_ci_installs_and_its_python():
    ci = apt_packages((PROJECT_ROOT / ".ci" / "run").read_text())
    image = apt_packages(DOCKERFILE)
    assert image == ci - CI_ONLY, (image, ci)
    assert {"libpango-1.0-0", "libpangoft2-1.0-0"} <= image  # WeasyPrint's
    base = re.search(r"^ARG PYTHON_IMAGE=python:(\d+\.\d+)-slim-bookworm$", DOCKERFILE, re.M)
    assert base, "the base image is a slim Python on Debian 12, as CI"
    requires = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == f">={base.group(1)}"
    assert base.group(1) == f"{sys.version_info.major}.{sys.version_info.minor}"  # the venv's
    # No build tools in the final image: nothing is compiled or pip-installed there.
    final = " ".join(args for name, args in final_stage() if name == "RUN")
    assert not re.search(r"\b(gcc|build-essential|pip install|make)\b", final), final
    assert ("USER", "dossier") in final_stage()


def test_compose_runs_every_process_the_scale_out_test_runs():
    """The services (read as text: no YAML parser is installed) of the layout tests/ops
    test_scale_out.py runs without containers."""
    services = re.findall(r"^  (\w+):$", COMPOSE.split("\nservices:\n", 1)[1].split("\nvolumes:\n", 1)[0], re.M)
    assert services == ["db", "redis", "mailpit", "migrate", "web", "worker"]
    worker = COMPOSE.split("\n  worker:\n", 1)[1]
    assert "container_name" not in worker and "ports:" not in worker  # `--scale worker=N`
    assert 'command: ["flask", "--app", "wsgi", "worker"]' in worker
    assert "/readyz" in COMPOSE.split("\n  web:\n", 1)[1].split("\n  worker:\n", 1)[0]
    assert "service_completed_successfully" in worker


def image_venv(directory: Path) -> Path:
    """A virtualenv with this one's packages but not the project (`make` installs it editable,
    which would find a module the image lacks in the checkout): the image's /opt/venv. Its
    bin directory, with the commands the image runs."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(directory)], check=True)
    site = next(directory.glob("lib/python*/site-packages"))
    ours = Path(next(p for p in sys.path if p.endswith("site-packages") and Path(p).is_relative_to(BIN.parent)))
    (site / "dependencies.pth").write_text(f"{ours}\n")  # a path, not a site dir: its .pth files stay unread
    for command in ("gunicorn", "flask", "pybabel"):
        script = (BIN / command).read_text().split("\n", 1)[1]
        (directory / "bin" / command).write_text(f"#!{directory / 'bin' / 'python'}\n{script}")
        (directory / "bin" / command).chmod(0o755)
    return directory / "bin"


@needs_postgres
def test_the_images_files_and_commands_serve_from_a_directory_of_their_own(cluster, redis_server, tmp_path):
    bin_dir = image_venv(tmp_path / "venv")
    # The final stage's files: its COPY lines, from the build context (the project).
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    for name, args in final_stage():
        if name != "COPY":
            continue
        if args.split()[1:] == ["/opt/venv", "/opt/venv"]:
            continue  # the dependencies: this test's virtualenv stands in (first on PATH)
        if args.startswith("--from=build"):
            assert args.split()[1:] == ["/src/translations", "./translations"], args
            shutil.copytree(PROJECT_ROOT / "translations", app_dir / "translations",
                            ignore=shutil.ignore_patterns("*.mo"))
            # the build stage's RUN: the catalogs compiled
            subprocess.run([str(bin_dir / "pybabel"), "compile", "-d", str(app_dir / "translations")],
                           check=True, capture_output=True)
            continue
        *sources, destination = shlex.split(args)
        for source in sources:
            path = PROJECT_ROOT / source
            target = app_dir / (source if destination == "./" else destination)
            if path.is_dir():
                shutil.copytree(path, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy(path, target)
    env_line = next(args for name, args in final_stage() if name == "ENV")
    image_env = dict(pair.split("=", 1) for pair in shlex.split(env_line))
    instance = tmp_path / "instance"
    instance.mkdir()
    url = create_database(cluster, "image_files")
    env = server_env(url, redis_server.url, 1, PATH=f"{bin_dir}:{os.environ['PATH']}",
                     PYTHONDONTWRITEBYTECODE=image_env["PYTHONDONTWRITEBYTECODE"],
                     WEB_CONCURRENCY=image_env["WEB_CONCURRENCY"], DOSSIER_INSTANCE_DIR=instance)
    env.pop("PYTHONPATH", None)
    before = sorted(p.relative_to(app_dir) for p in app_dir.rglob("*"))

    def run(command: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(command, cwd=app_dir, env=env, capture_output=True, text=True, timeout=timeout)

    migrate = re.search(r'command: \["sh", "-c", "(flask --app wsgi db upgrade)', COMPOSE).group(1)
    done = run(shlex.split(migrate))
    assert done.returncode == 0, done.stderr[-3000:]

    cmd = shlex.split(re.search(r"^CMD (.+)$", DOCKERFILE, re.M).group(1).replace("[", "").replace("]", "").replace(",", ""))
    port = free_port()
    cmd = [part.replace("0.0.0.0:8000", f"127.0.0.1:{port}") for part in cmd]
    log = tmp_path / "gunicorn.log"
    server = subprocess.Popen(cmd, cwd=app_dir, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        healthcheck = re.search(r'CMD \["python", "-c", "(.+)"\]\n', DOCKERFILE).group(1).replace("8000", str(port))
        readiness = re.search(r'"CMD", "python", "-c", "(.+/readyz.+)"\]', COMPOSE).group(1).replace("8000", str(port))
        wait_for(lambda: run(["python", "-c", healthcheck]).returncode == 0 or server.poll() is not None, 60, 0.3,
                 "the HEALTHCHECK command to pass")
        assert server.poll() is None, log.read_text()[-3000:]
        ready = run(["python", "-c", readiness])
        assert ready.returncode == 0, ready.stderr[-2000:]
        workers = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        assert len(workers) == int(image_env["WEB_CONCURRENCY"])
        worker = run(["flask", "--app", "wsgi", "worker", "--burst"])
        assert worker.returncode == 0, worker.stderr[-3000:]
    finally:
        server.terminate()  # the gunicorn this test started
        server.wait(timeout=30)
    assert sorted(p.relative_to(app_dir) for p in app_dir.rglob("*")) == before  # nothing written to /app
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
