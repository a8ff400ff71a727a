#!/usr/bin/env python3
"""Split rendered manifests for scripts/check-deploy and check the custom
resources whose schemas live here.

    validate.py RENDERED.yaml CORE_OUT.yaml KEDA_OUT.json

- Kubernetes' own kinds go to CORE_OUT.yaml, for kubernetes-validate.
- KEDA's kinds go to KEDA_OUT.json, for keda-validate.mjs (@kubernetes-models/keda).
- RabbitmqCluster (rabbitmq.com/v1beta1) and CloudNativePG's Cluster and
  ScheduledBackup (postgresql.cnpg.io/v1) are validated here against the
  openAPIV3Schema of the operators' own CRDs (the *.json files beside this
  script; README.md says where they came from), strictly: a field the CRD
  does not define is an error, as a typo would otherwise be pruned silently
  by the API server.
- Anything else is an error: a new custom resource needs a schema here.
Every document must have apiVersion, kind and metadata.name.
Needs PyYAML and jsonschema (the venv scripts/check-deploy makes).
"""
import json
import os
import sys

import jsonschema
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))

# Kinds served by Kubernetes itself (kubernetes-validate knows them).
CORE_GROUPS = {"v1", "apps/v1", "batch/v1", "policy/v1", "autoscaling/v2",
               "networking.k8s.io/v1", "rbac.authorization.k8s.io/v1"}
KEDA_GROUP = "keda.sh/v1alpha1"
CRD_SCHEMAS = {
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"): "rabbitmq.com_v1beta1_rabbitmqcluster.json",
    ("postgresql.cnpg.io/v1", "Cluster"): "postgresql.cnpg.io_v1_cluster.json",
    ("postgresql.cnpg.io/v1", "ScheduledBackup"): "postgresql.cnpg.io_v1_scheduledbackup.json",
}


def strict(schema):
    """What the API server's pruning means for a manifest: an object with
    declared properties accepts no others (unless the CRD says it keeps
    unknown fields)."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if ("properties" in out and "additionalProperties" not in out
                and not out.get("x-kubernetes-preserve-unknown-fields")):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


def validator(filename):
    with open(os.path.join(HERE, filename)) as f:
        schema = strict(json.load(f))
    # metadata is the API server's business (ObjectMeta), not the CRD's.
    schema.setdefault("properties", {})["metadata"] = {"type": "object"}
    return jsonschema.Draft7Validator(schema)


def main(rendered, core_out, keda_out):
    with open(rendered) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    errors, core, keda = [], [], []
    validators = {}
    for doc in docs:
        api, kind = doc.get("apiVersion"), doc.get("kind")
        name = (doc.get("metadata") or {}).get("name")
        where = f"{rendered}: {kind or '?'}/{name or '?'}"
        if not (api and kind and name):
            errors.append(f"{where}: apiVersion, kind and metadata.name are required")
            continue
        if api in CORE_GROUPS:
            core.append(doc)
        elif api == KEDA_GROUP:
            keda.append(doc)
        elif (api, kind) in CRD_SCHEMAS:
            if (api, kind) not in validators:
                validators[(api, kind)] = validator(CRD_SCHEMAS[(api, kind)])
            problems = sorted(validators[(api, kind)].iter_errors(doc), key=lambda e: list(e.path))
            for p in problems:
                path = ".".join(str(x) for x in p.path) or "(root)"
                errors.append(f"{where}: {path}: {p.message}")
            if not problems:
                print(f"ok  {api} {kind}/{name} (CRD schema)")
        else:
            errors.append(f"{where}: no schema for {api} {kind}: add its CRD to deploy/k8s/schemas")
    with open(core_out, "w") as f:
        yaml.safe_dump_all(core, f, sort_keys=False)
    with open(keda_out, "w") as f:
        json.dump(keda, f)
    for e in errors:
        print(f"FAIL {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
