"""The deployment files, checked by machine against the schemas of the tools that read them.

``infra/docker-compose.yml`` against the Compose specification's JSON Schema (Draft 7, as it declares), and
``infra/helm/values.yaml`` against the Dagster Helm chart's values schema. Helm validates the user's values
deep-merged with the chart's defaults, which these machines do not have; so for the chart the check is every
key we set and its type or enum, not the keys we leave to the defaults: ``required`` is dropped from the
schema. Its Kubernetes sub-objects are remote ``$ref``s (no network here); those are dropped too, and the
Dagster-level keywords around them still apply.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from wme_assets_tests.paths import REPO_ROOT

SCHEMAS = REPO_ROOT.parent / "shared" / "reference" / "schemas"
COMPOSE = REPO_ROOT / "infra" / "docker-compose.yml"
HELM_VALUES = REPO_ROOT / "infra" / "helm" / "values.yaml"


def _load_schema(name: str) -> dict[str, Any]:
    path = SCHEMAS / name
    if not path.exists():
        pytest.fail(f"{path} is missing: the tests expect ../shared beside the repository")
    return json.loads(path.read_text())


def _errors(validator: jsonschema.protocols.Validator, instance: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
        for error in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    ]


def _for_merged_values(schema: Any) -> Any:
    """The chart schema without ``required`` and without remote ``$ref``s (see the module docstring)."""
    if isinstance(schema, dict):
        out = {}
        for key, value in schema.items():
            if key == "required" and isinstance(value, list):
                continue
            if key == "$ref" and isinstance(value, str) and not value.startswith("#"):
                continue
            out[key] = _for_merged_values(value)
        return out
    if isinstance(schema, list):
        return [_for_merged_values(item) for item in schema]
    return schema


def test_compose_file_follows_the_compose_specification():
    schema = _load_schema("compose-spec.json")
    validator = jsonschema.Draft7Validator(schema)
    assert _errors(validator, yaml.safe_load(COMPOSE.read_text())) == []


def test_compose_check_catches_a_bad_key():
    """The check above can fail: a misspelt service key and a wrong type are both reported."""
    validator = jsonschema.Draft7Validator(_load_schema("compose-spec.json"))
    compose = yaml.safe_load(COMPOSE.read_text())
    service = next(iter(compose["services"].values()))
    service["restart_policy"] = "always"  # belongs under deploy:, not on the service
    service["ports"] = "3000:3000"  # must be a list
    errors = _errors(validator, compose)
    assert any("restart_policy" in e for e in errors), errors
    assert any("ports" in e for e in errors), errors


def _helm_validator() -> jsonschema.protocols.Validator:
    schema = _for_merged_values(_load_schema("dagster-helm-values.schema.json"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_helm_values_set_only_keys_and_types_the_dagster_chart_knows():
    values = yaml.safe_load(HELM_VALUES.read_text())
    assert _errors(_helm_validator(), values) == []


def test_helm_check_catches_an_unknown_key_and_a_wrong_type():
    values = copy.deepcopy(yaml.safe_load(HELM_VALUES.read_text()))
    values.setdefault("dagsterWebserver", {})["replicaCountt"] = 1
    values.setdefault("dagsterDaemon", {})["enabled"] = "yes"
    errors = _errors(_helm_validator(), values)
    assert any("replicaCountt" in e for e in errors), errors
    assert any(e.startswith("dagsterDaemon/enabled") for e in errors), errors


def test_schema_copies_are_the_documented_ones():
    """A replaced schema file would silently change what the checks above mean."""
    import hashlib

    expected = {
        "compose-spec.json": "1f91e091f16b2dd50ab8860e02bb391d22df553d91c145eacedb1b6eff9c3f0e",
        "dagster-helm-values.schema.json": "6d9aadb17881f23a96cdc0df89e3c4a5aa65e5b4a010b2eada443f6884c27ee1",
    }
    for name, sha256 in expected.items():
        assert hashlib.sha256(Path(SCHEMAS / name).read_bytes()).hexdigest() == sha256, name


def test_the_listener_deployment_has_the_code_locations_settings():
    """infra/helm/listener.yaml runs `wme listen` with every WME_* setting the code location has, and the same
    secrets: the listener must write where the pipeline reads."""
    listener = yaml.safe_load((REPO_ROOT / "infra" / "helm" / "listener.yaml").read_text())
    [container] = listener["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["wme", "listen"] and listener["spec"]["replicas"] == 1
    [deployment] = yaml.safe_load(HELM_VALUES.read_text())["dagster-user-deployments"]["deployments"]
    location_env = {e["name"]: e["value"] for e in deployment["env"]}
    listener_env = {e["name"]: e["value"] for e in container["env"]}
    assert {k: listener_env.get(k) for k in location_env} == location_env
    assert {s["secretRef"]["name"] for s in container["envFrom"]} == {s["name"] for s in deployment["envSecrets"]}
    assert container["image"] == f"{deployment['image']['repository']}:{deployment['image']['tag']}"
    compose = yaml.safe_load(COMPOSE.read_text())
    assert compose["services"]["listener"]["command"] == ["wme", "listen"]


def test_the_api_deployment_has_the_code_locations_settings_and_its_secret():
    """infra/helm/api.yaml runs `wme serve` with every WME_* setting the code location has, its secrets and the
    token secret, probed on /health, behind a Service: the API must read where the pipeline writes."""
    deployment, service = yaml.safe_load_all((REPO_ROOT / "infra" / "helm" / "api.yaml").read_text())
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"][:2] == ["wme", "serve"] and deployment["spec"]["replicas"] >= 2
    [location] = yaml.safe_load(HELM_VALUES.read_text())["dagster-user-deployments"]["deployments"]
    location_env = {e["name"]: e["value"] for e in location["env"]}
    api_env = {e["name"]: e["value"] for e in container["env"]}
    assert {k: api_env.get(k) for k in location_env} == location_env
    secrets = {s["secretRef"]["name"] for s in container["envFrom"]}
    assert secrets == {s["name"] for s in location["envSecrets"]} | {"wme-api-secret"}
    assert container["image"] == f"{location['image']['repository']}:{location['image']['tag']}"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert service["kind"] == "Service" and service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    port = container["command"][container["command"].index("--port") + 1]
    assert container["ports"][0]["containerPort"] == int(port)
