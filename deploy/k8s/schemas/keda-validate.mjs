// Validate KEDA custom resources against KEDA's own schemas, as published on
// npm in @kubernetes-models/keda (generated from kedacore/keda's API types).
//
//   node keda-validate.mjs RESOURCES.json
//
// RESOURCES.json: an array of manifests (deploy/k8s/schemas/validate.py
// writes it). scripts/check-deploy installs the package into its cache and
// runs a copy of this file from there, so the import resolves.
import { readFileSync } from "node:fs";
import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject";
import { TriggerAuthentication } from "@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication";
import { ScaledJob } from "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledJob";

const models = { ScaledObject, TriggerAuthentication, ScaledJob };
const file = process.argv[2];
const resources = JSON.parse(readFileSync(file, "utf8"));
let failed = 0;
for (const resource of resources) {
  const where = `${file}: ${resource.kind}/${resource.metadata?.name}`;
  const Model = models[resource.kind];
  if (!Model) {
    console.error(`FAIL ${where}: no KEDA model for kind ${resource.kind}`);
    failed++;
    continue;
  }
  try {
    new Model(resource).validate();
    // The models accept unknown trigger types; ours must be one KEDA has
    // and carry what the rabbitmq scaler needs.
    for (const trigger of resource.spec?.triggers ?? []) {
      if (trigger.type === "rabbitmq") {
        const m = trigger.metadata ?? {};
        if (!m.queueName) throw new Error("rabbitmq trigger: metadata.queueName is required");
        if (!["QueueLength", "MessageRate"].includes(m.mode)) throw new Error("rabbitmq trigger: mode must be QueueLength or MessageRate");
        if (!m.value) throw new Error("rabbitmq trigger: metadata.value is required");
        if (!m.host && !m.hostFromEnv && !trigger.authenticationRef) throw new Error("rabbitmq trigger: needs host, hostFromEnv or authenticationRef");
      }
    }
    console.log(`ok  ${resource.apiVersion} ${resource.kind}/${resource.metadata?.name} (@kubernetes-models/keda)`);
  } catch (e) {
    console.error(`FAIL ${where}: ${e.message}`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
