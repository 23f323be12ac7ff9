"""Packaging checks: metadata.yaml against Airbyte's metadata models, the Dockerfile (read statically, no
Docker engine needed), and the wheel that the Dockerfile's build context produces (bundled schemas included).

Test names avoid the word "d-o-c-k-e-r": pytest.ini deselects such tests with -k "not docker".
"""

import ast
import email
import json
import re
import shlex
import shutil
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path, PurePosixPath
from typing import Dict, List, Optional, Tuple

import pytest
import yaml
from packaging.specifiers import SpecifierSet

from airbyte_cdk.models.connector_metadata import ConnectorLanguage, MetadataFile

try:  # Airbyte's registry model of metadata.yaml (strict: unknown keys and bad enum values are errors).
    from airbyte_connector_models.metadata.v0.connector_metadata_definition_v0 import ConnectorMetadataDefinitionV0
except ImportError:  # pragma: no cover - reported by the test that needs it
    ConnectorMetadataDefinitionV0 = None

from source_erpnext.spec import DOCUMENTATION_URL

ROOT = Path(__file__).resolve().parents[1]
METADATA = ROOT / "metadata.yaml"
IMAGE_FILE = ROOT / "Dockerfile"
SETUP = ROOT / "setup.py"
CONSOLE_SCRIPT = "source-erpnext"
# What the image needs from the repository to build the package.
PACKAGE_SOURCES = ("setup.py", "source_erpnext", "schemas")

BASE_IMAGE = re.compile(
    r"^docker\.io/airbyte/python-connector-base:(?P<tag>\d+\.\d+\.\d+)@sha256:(?P<digest>[0-9a-f]{64})$"
)
# Python inside each python-connector-base release (airbytehq/airbyte: base_images changelog and README,
# PR #62909 for 4.0.2). Pinning a release not listed here fails until its Python version is looked up.
BASE_IMAGE_PYTHON = {
    "1.2.3": "3.9.19",
    "2.0.0": "3.10.14",
    "4.0.0": "3.11",
    "4.0.2": "3.11.13",
    "4.1.0": "3.13",
}


# -- helpers ------------------------------------------------------------------------------------------


def load_metadata() -> dict:
    return yaml.safe_load(METADATA.read_text())


def setup_version() -> str:
    """setup.py's version, read statically: `VERSION = "x"` or a literal `version=` argument of setup()."""
    tree = ast.parse(SETUP.read_text())
    constants = {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setup":
            for keyword in node.keywords:
                if keyword.arg == "version":
                    if isinstance(keyword.value, ast.Constant):
                        return keyword.value.value
                    if isinstance(keyword.value, ast.Name):
                        return constants[keyword.value.id]
    raise AssertionError("setup.py has no setup(version=...) that can be read statically")


def image_instructions(text: str) -> List[Tuple[str, str]]:
    """(INSTRUCTION, arguments) in order: continuation lines joined, comments and blank lines dropped."""
    instructions: List[Tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, arguments = line.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def final_stage(instructions: List[Tuple[str, str]]) -> List[Tuple[str, str]]:
    starts = [i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    assert starts, "the Dockerfile has no FROM"
    return instructions[starts[-1]:]


def env_values(arguments: str) -> Dict[str, str]:
    """ENV KEY=VALUE [KEY=VALUE ...] or the legacy ENV KEY VALUE."""
    tokens = shlex.split(arguments)
    if tokens and "=" in tokens[0]:
        return dict(token.split("=", 1) for token in tokens)
    return {tokens[0]: " ".join(tokens[1:])} if tokens else {}


def copy_arguments(arguments: str) -> Tuple[List[str], str]:
    """(sources, destination) of a COPY/ADD, flags (--chown, --from, ...) dropped."""
    if arguments.startswith("["):
        parts = json.loads(arguments)
    else:
        parts = [part for part in shlex.split(arguments) if not part.startswith("--")]
    assert len(parts) >= 2, f"COPY {arguments} names no source and destination"
    return parts[:-1], parts[-1]


def is_pip_install_of_workdir(command: str, workdir: str) -> bool:
    """A shell command holding `pip install ... .` (or of the WORKDIR path), as `pip`, `pip3`, `python -m pip`, `uv pip`."""
    for part in re.split(r"&&|\|\||;", command):
        try:
            tokens = shlex.split(part)
        except ValueError:
            continue
        for i, token in enumerate(tokens[:-1]):
            if PurePosixPath(token).name in ("pip", "pip3") and tokens[i + 1] == "install":
                targets = [t for t in tokens[i + 2:] if not t.startswith("-")]
                if any(t in (".", "./", workdir, workdir.rstrip("/") + "/") for t in targets):
                    return True
    return False


def stage_build_context(instructions: List[Tuple[str, str]], stage: Path) -> Path:
    """Lay out what the final stage's COPY instructions put in its WORKDIR (Docker's COPY rules: a directory
    source copies its contents). Returns the WORKDIR as a local folder."""
    workdir = PurePosixPath("/")
    for keyword, arguments in final_stage(instructions):
        if keyword == "WORKDIR":
            workdir = workdir / arguments
        elif keyword in ("COPY", "ADD") and "--from" not in arguments:
            sources, destination = copy_arguments(arguments)
            target = workdir / destination
            local = stage / target.relative_to("/")
            for source in sources:
                if source in (".", "./"):
                    # The whole repository: only the package sources matter for the build.
                    for name in PACKAGE_SOURCES:
                        _copy(ROOT / name, local / name)
                    continue
                path = ROOT / source
                assert path.exists(), f"the Dockerfile copies {source}, which is not in the repository"
                if path.is_dir():
                    _copy(path, local)
                elif destination.endswith("/") or destination in (".", "./"):
                    _copy(path, local / path.name)
                else:
                    _copy(path, local)
    return stage / workdir.relative_to("/")


def _copy(source: Path, target: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


# -- fixtures -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def metadata() -> dict:
    return load_metadata()


@pytest.fixture(scope="module")
def instructions() -> List[Tuple[str, str]]:
    return image_instructions(IMAGE_FILE.read_text())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory, instructions) -> Path:
    """The wheel pip builds from exactly what the Dockerfile copies (offline: no index, no build isolation)."""
    base = tmp_path_factory.mktemp("image-context")
    context = stage_build_context(instructions, base / "root")
    assert (context / "setup.py").is_file(), "setup.py does not land in the WORKDIR where `pip install .` runs"
    out = base / "dist"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "--ignore-requires-python",
         "--disable-pip-version-check", "-q", "-w", str(out), str(context)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, f"pip wheel failed:\n{result.stdout}\n{result.stderr}"
    wheels = list(out.glob("*.whl"))
    assert len(wheels) == 1, f"expected one wheel, got {wheels}"
    return wheels[0]


def wheel_metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return email.message_from_bytes(archive.read(name))


def wheel_console_scripts(wheel: Path) -> Dict[str, str]:
    with zipfile.ZipFile(wheel) as archive:
        name = next((n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")), None)
        text = archive.read(name).decode() if name else ""
    scripts, section = {}, None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line.strip("[]")
        elif "=" in line and section == "console_scripts":
            key, value = (part.strip() for part in line.split("=", 1))
            scripts[key] = value
    return scripts


# -- (a) metadata.yaml is valid for Airbyte's models ---------------------------------------------------


def test_metadata_validates_with_cdk_model():
    """airbyte-cdk's own model (what `airbyte-cdk image build` and the standard image tests load)."""
    parsed = MetadataFile.from_file(METADATA)
    assert parsed.data.dockerRepository == "airbyte/source-erpnext"
    assert parsed.data.language == ConnectorLanguage.PYTHON
    assert parsed.data.connectorBuildOptions is not None and parsed.data.connectorBuildOptions.baseImage


def test_metadata_validates_with_airbyte_registry_model(metadata):
    """Airbyte's full ConnectorMetadataDefinitionV0 (PyPI: airbyte-connector-models): required fields,
    enums, UUID, URL, and no unknown keys anywhere."""
    if ConnectorMetadataDefinitionV0 is None:
        pytest.fail("airbyte-connector-models is not installed: it belongs in setup.py's `tests` extra")
    model = ConnectorMetadataDefinitionV0.model_validate(metadata)
    data = model.data
    assert model.metadata_spec_version == "1.0"
    assert data.connector_type.value == "source"
    assert data.connector_subtype.value == "api"
    assert data.name == "ERPNext"
    assert data.license == "MIT"
    assert data.release_stage.value == "alpha"
    assert data.support_level is not None and data.support_level.value == "community"
    assert data.docker_repository == "airbyte/source-erpnext"
    assert data.github_issue_label == data.docker_repository.split("/", 1)[1]
    assert data.tags == ["language:python", "cdk:python"]
    assert str(data.documentation_url) == DOCUMENTATION_URL, "metadata and the spec name different documentation URLs"
    assert data.definition_id.version == 4
    assert data.registry_overrides is not None
    assert data.registry_overrides.oss is not None and data.registry_overrides.cloud is not None


def test_definition_id_is_fixed_uuid4(metadata):
    definition_id = metadata["data"]["definitionId"]
    assert isinstance(definition_id, str), "definitionId must be written as a string"
    assert str(uuid.UUID(definition_id)) == definition_id and uuid.UUID(definition_id).version == 4


# -- (b) the image tag is the package version ------------------------------------------------------------


def test_image_tag_is_setup_version(metadata, wheel):
    tag = metadata["data"]["dockerImageTag"]
    assert isinstance(tag, str), "dockerImageTag must be a string (quote it in YAML)"
    assert tag == setup_version(), "metadata.yaml's dockerImageTag differs from setup.py's version"
    assert tag == wheel_metadata(wheel)["Version"], "dockerImageTag differs from the version the wheel is built with"


# -- (c) the Dockerfile, read statically -------------------------------------------------------------------


def test_image_file_from_is_pinned_base_image(metadata, instructions, wheel):
    base_image = metadata["data"]["connectorBuildOptions"]["baseImage"]
    match = BASE_IMAGE.match(base_image)
    assert match, f"baseImage {base_image!r} is not docker.io/airbyte/python-connector-base:X.Y.Z@sha256:<digest>"
    images = [arguments.split()[0] for keyword, arguments in instructions if keyword == "FROM"]
    assert images, "the Dockerfile has no FROM"
    assert images[-1] == base_image, "the final FROM is not metadata.yaml's connectorBuildOptions.baseImage"
    assert all(image == base_image for image in images), f"every stage must start from the pinned base image: {images}"
    tag = match["tag"]
    assert tag in BASE_IMAGE_PYTHON, f"python-connector-base {tag}: its Python version is not known to this test"
    requires_python = wheel_metadata(wheel)["Requires-Python"] or ""
    assert SpecifierSet(requires_python).contains(BASE_IMAGE_PYTHON[tag]), (
        f"python-connector-base {tag} ships Python {BASE_IMAGE_PYTHON[tag]}, but the package requires {requires_python}"
    )


def test_image_file_copies_and_installs_package(instructions):
    stage = final_stage(instructions)
    workdir = PurePosixPath("/")
    copied: Dict[str, int] = {}
    install_at: Optional[int] = None
    for index, (keyword, arguments) in enumerate(stage):
        if keyword == "WORKDIR":
            workdir = workdir / arguments
        elif keyword in ("COPY", "ADD") and "--from" not in arguments:
            for source in copy_arguments(arguments)[0]:
                names = PACKAGE_SOURCES if source in (".", "./") else [source.rstrip("/")]
                for name in names:
                    copied.setdefault(name, index)
        elif keyword == "RUN" and install_at is None and is_pip_install_of_workdir(arguments, str(workdir)):
            install_at = index
    missing = [name for name in PACKAGE_SOURCES if name not in copied]
    assert not missing, f"the Dockerfile does not copy {missing}"
    assert install_at is not None, "no RUN installs the package (pip install .) in the WORKDIR"
    late = [name for name in PACKAGE_SOURCES if copied[name] > install_at]
    assert not late, f"{late} are copied after `pip install .` ran"


def test_image_file_entrypoint_runs_console_script(instructions, wheel):
    stage = final_stage(instructions)
    entrypoints = [arguments for keyword, arguments in stage if keyword == "ENTRYPOINT"]
    assert entrypoints, "the Dockerfile sets no ENTRYPOINT"
    try:
        entrypoint = json.loads(entrypoints[-1])
    except ValueError:
        pytest.fail(f"ENTRYPOINT {entrypoints[-1]} is not in exec form (a JSON array)")
    assert isinstance(entrypoint, list) and entrypoint, "ENTRYPOINT is empty"
    assert PurePosixPath(entrypoint[0]).name == CONSOLE_SCRIPT, f"ENTRYPOINT {entrypoint} does not run {CONSOLE_SCRIPT}"
    env: Dict[str, str] = {}
    for keyword, arguments in stage:
        if keyword == "ENV":
            env.update(env_values(arguments))
    assert env.get("AIRBYTE_ENTRYPOINT") == " ".join(entrypoint), "AIRBYTE_ENTRYPOINT does not match the ENTRYPOINT"
    assert wheel_console_scripts(wheel).get(CONSOLE_SCRIPT) == "source_erpnext.run:run", (
        f"the package does not install the console script {CONSOLE_SCRIPT} = source_erpnext.run:run"
    )


def test_image_file_labels_match_metadata(metadata, instructions):
    labels: Dict[str, str] = {}
    for keyword, arguments in instructions:
        if keyword == "LABEL":
            labels.update(dict(token.split("=", 1) for token in shlex.split(arguments)))
    assert labels.get("io.airbyte.name") == metadata["data"]["dockerRepository"]
    assert labels.get("io.airbyte.version") == metadata["data"]["dockerImageTag"]


# -- (d) the bundled schemas are packaged ------------------------------------------------------------------


def test_wheel_bundles_schemas(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert "source_erpnext/schemas/item.json" in names, "schemas/item.json is not packaged"
        for schema in sorted((ROOT / "schemas").glob("*.json")):
            packaged = f"source_erpnext/schemas/{schema.name}"
            assert packaged in names, f"schemas/{schema.name} is not packaged"
            assert json.loads(archive.read(packaged)) == json.loads(schema.read_text())


def test_installed_wheel_reads_bundled_schema_and_prints_spec(wheel, tmp_path):
    """Unpacked outside the repository, the package finds its schemas inside itself and answers `spec`."""
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    check = (
        "import sys; from pathlib import Path; import source_erpnext; from source_erpnext import schemas;"
        f"assert Path(source_erpnext.__file__).resolve().is_relative_to(Path({str(site)!r}).resolve()), source_erpnext.__file__;"
        "assert schemas.bundled_schema('item'), 'no bundled schema for item';"
        "assert (Path(schemas.__file__).parent / 'schemas' / 'item.json').is_file()"
    )
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "source_erpnext", "spec"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    messages = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    specs = [m["spec"] for m in messages if m.get("type") == "SPEC"]
    assert specs and specs[0]["documentationUrl"] == DOCUMENTATION_URL


# -- the documentation page matches the spec -----------------------------------------------------------------


def test_docs_page_lists_every_config_field_as_in_spec():
    """docs/integrations/sources/erpnext.md (documentationUrl's page) carries every field's name, title and
    description exactly as spec.py renders them."""
    from source_erpnext.spec import ErpnextConfig

    page = (ROOT / "docs" / "integrations" / "sources" / "erpnext.md").read_text()
    rows = {line.split("|")[1].strip().strip("`"): line for line in page.splitlines() if line.startswith("| `")}
    for field, schema in ErpnextConfig.airbyte_spec()["properties"].items():
        assert field in rows, f"the docs page has no row for config field {field}"
        assert f"| {schema['title']} |" in rows[field], f"{field}: the docs page does not use the title {schema['title']!r}"
        assert schema["description"] in rows[field], f"{field}: the docs page's description differs from spec.py's"
