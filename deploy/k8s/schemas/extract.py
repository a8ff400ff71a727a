#!/usr/bin/env python3
"""Turn an operator's CustomResourceDefinition into the JSON schema that
scripts/check-deploy validates our custom resources against.

    python3 deploy/k8s/schemas/extract.py CRD.yaml VERSION > deploy/k8s/schemas/GROUP_VERSION_KIND.json

Keeps the served version's openAPIV3Schema and drops the descriptions (they
are most of the bytes and none of the checking). Run it by hand when the
operator is upgraded; see README.md beside it for where each CRD came from.
"""
import json
import sys

import yaml


def strip(node):
    if isinstance(node, dict):
        # A field may itself be called "description" (then its value is a
        # schema, a dict): only the documentation strings go.
        return {k: strip(v) for k, v in node.items() if not (k == "description" and isinstance(v, str))}
    if isinstance(node, list):
        return [strip(v) for v in node]
    return node


def main(path, version):
    with open(path) as f:
        crd = yaml.safe_load(f)
    assert crd["kind"] == "CustomResourceDefinition", path
    for v in crd["spec"]["versions"]:
        if v["name"] == version:
            schema = strip(v["schema"]["openAPIV3Schema"])
            schema["x-warungin-source"] = {
                "group": crd["spec"]["group"],
                "version": version,
                "kind": crd["spec"]["names"]["kind"],
            }
            json.dump(schema, sys.stdout, separators=(",", ":"), sort_keys=True)
            sys.stdout.write("\n")
            return
    sys.exit(f"{path}: no version {version}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
