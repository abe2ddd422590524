"""Offline validation of KEDA objects against KEDA's own CRD schemas and ``scalers-schema.json``.

The recipe of ``shared/notes/keda-arq-k8s.md`` §4: take ``openAPIV3Schema`` of the CRD's
``v1alpha1`` version, add ``additionalProperties: false`` to every object schema that lists
``properties`` and does not preserve unknown fields (as the API server's strict field
validation would reject unknown fields), and validate with ``jsonschema``. Trigger metadata keys
are checked against ``scalers-schema.json``, because KEDA itself ignores a misspelled key.
The files come from ``../shared/k8s/keda-v2.20.2/`` beside the repository; they are not copied in.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from tests.deploy.chart import ROOT

KEDA_DIR = ROOT.parent / "shared" / "k8s" / "keda-v2.20.2"
CRD_FILES = {
    "ScaledJob": "keda.sh_scaledjobs.yaml",
    "ScaledObject": "keda.sh_scaledobjects.yaml",
    "TriggerAuthentication": "keda.sh_triggerauthentications.yaml",
    "ClusterTriggerAuthentication": "keda.sh_clustertriggerauthentications.yaml",
}
# Auth parameters of metrics-api: read by pkg/scalers/authentication, not listed in
# scalers-schema.json (notes §1.3). Metadata keys first, then TriggerAuthentication parameters.
METRICS_API_AUTH_METADATA = {"authMode", "authModes", "method", "keyParamName"}
METRICS_API_AUTH_PARAMS = {
    "token", "bearerToken", "username", "password", "cert", "key", "ca", "apiKey",
    "customAuthHeader", "customAuthValue", "oauthTokenURI", "clientID", "clientSecret", "scopes",
}
METADATA_KEYS = {"name", "namespace", "labels", "annotations"}


def strict(schema: Any) -> Any:
    """A copy of ``schema`` where every object with ``properties`` rejects unknown fields."""
    schema = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if (node.get("type") == "object" and "properties" in node
                    and "additionalProperties" not in node
                    and not node.get("x-kubernetes-preserve-unknown-fields")):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


@dataclass
class KedaSchemas:
    """KEDA's CRD schemas (strict) and scaler parameters, loaded from ``KEDA_DIR``."""

    validators: dict[str, jsonschema.Draft7Validator]
    scalers: dict[str, list[dict[str, Any]]]

    @classmethod
    def load(cls, directory: Path = KEDA_DIR) -> KedaSchemas:
        """Load every CRD of :data:`CRD_FILES` and ``scalers-schema.json``."""
        validators = {}
        for kind, name in CRD_FILES.items():
            crd = yaml.safe_load((directory / name).read_text())
            (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
            schema = strict(version["schema"]["openAPIV3Schema"])
            validators[kind] = jsonschema.Draft7Validator(schema)
        data = json.loads((directory / "scalers-schema.json").read_text())
        scalers = {s["type"]: s["parameters"] for s in data["scalers"]}
        return cls(validators, scalers)

    def errors(self, obj: dict[str, Any]) -> list[str]:
        """Every schema error of a KEDA object, plus trigger and auth-parameter key errors."""
        kind = obj.get("kind", "")
        if kind not in self.validators:
            return [f"unknown KEDA kind {kind!r}"]
        found = [
            f"{kind}/{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in self.validators[kind].iter_errors(obj)
        ]
        if obj.get("apiVersion") != "keda.sh/v1alpha1":
            found.append(f"{kind}: apiVersion {obj.get('apiVersion')!r} is not keda.sh/v1alpha1")
        extra = set(obj.get("metadata", {})) - METADATA_KEYS
        if extra:
            found.append(f"{kind}: unexpected metadata fields {sorted(extra)}")
        if kind == "ScaledJob":
            for trigger in obj.get("spec", {}).get("triggers", []):
                found += self.trigger_errors(trigger)
        return found

    def trigger_errors(self, trigger: dict[str, Any]) -> list[str]:
        """Metadata keys of one trigger that its scaler does not read (KEDA ignores them)."""
        kind = trigger.get("type")
        if kind not in self.scalers:
            return [f"trigger type {kind!r} is not a KEDA scaler"]
        params = self.scalers[kind]
        allowed = {p["name"] for p in params if p.get("metadataVariableReadable")}
        allowed |= {p["name"] + "FromEnv" for p in params if p.get("envVariableReadable")}
        if kind == "metrics-api":
            allowed |= METRICS_API_AUTH_METADATA
        unknown = set(trigger.get("metadata", {})) - allowed
        return [f"trigger {kind}: unknown metadata key {k!r}" for k in sorted(unknown)]

    def auth_parameter_errors(self, auth: dict[str, Any], trigger_type: str) -> list[str]:
        """``secretTargetRef`` parameters that the trigger's scaler does not accept."""
        params = self.scalers.get(trigger_type, [])
        allowed = {p["name"] for p in params if p.get("triggerAuthenticationVariableReadable")}
        if trigger_type == "metrics-api":
            allowed |= METRICS_API_AUTH_PARAMS
        refs = auth.get("spec", {}).get("secretTargetRef", [])
        return [f"TriggerAuthentication: {trigger_type} does not read parameter {r['parameter']!r}"
                for r in refs if r.get("parameter") not in allowed]
