#!/usr/bin/env node
// Offline half of `firebase deploy`, with firebase-tools' own code (its CLI's --dry-run needs a login).
//
//   node scripts/deploy_check.js --project P --manifest functions.yaml [--env functions/.env.P] [--config firebase.json]
//
// 1. firebase.json against firebase-tools' schema validator (what `firebase deploy` checks first);
// 2. the functions manifest (what firebase-tools reads from the SDK's /__/functions.yaml) turned into
//    a build, its params resolved non-interactively from the dotenv file exactly as deploy does
//    (a param with no value and no default fails here as it would there), and the resulting
//    endpoints validated (memory/CPU/concurrency/timeout rules of Cloud Functions 2nd gen).
// Prints one JSON object: {config_errors, params, endpoints}; exits 1 on any error.
"use strict";
process.env.METADATA_SERVER_DETECTION = process.env.METADATA_SERVER_DETECTION || "none";
const fs = require("fs");
const path = require("path");

const LIB = path.join(__dirname, "..", "node_modules", "firebase-tools", "lib");
const need = (p) => require(path.join(LIB, p));

function parseArgs(argv) {
  const out = { config: path.join(__dirname, "..", "firebase.json") };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, "");
    if (key === "help" || key === "h") {
      out.help = true;
      continue;
    }
    out[key] = argv[++i];
  }
  return out;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.help || !args.project || !args.manifest) {
    console.log("usage: node scripts/deploy_check.js --project P --manifest functions.yaml " +
      "[--env DOTENV] [--config firebase.json]");
    process.exit(args.help ? 0 : 2);
  }
  const result = { config_errors: [], params: {}, endpoints: [] };
  // 1. firebase.json
  const { getValidator, getErrorMessage } = need("firebaseConfigValidate.js");
  const validate = getValidator();
  const config = JSON.parse(fs.readFileSync(args.config, "utf8"));
  if (!validate(config)) {
    result.config_errors = (validate.errors || []).map((e) => getErrorMessage(e));
  }
  // 2. manifest -> build -> params -> backend -> validation
  const yaml = require(require.resolve("yaml", { paths: [LIB] }));
  const discovery = need("deploy/functions/runtimes/discovery/index.js");
  const build = need("deploy/functions/build.js");
  const backend = need("deploy/functions/backend.js");
  const validateFns = need("deploy/functions/validate.js");
  const functionsEnv = need("functions/env.js");
  const manifest = yaml.parse(fs.readFileSync(args.manifest, "utf8"));
  const codebase = config.functions[0];
  const want = discovery.yamlToBuild(manifest, args.project, "us-central1", codebase.runtime);
  let userEnvs = {};
  if (args.env) {
    userEnvs = functionsEnv.parseStrict(fs.readFileSync(args.env, "utf8"));
  }
  const firebaseConfig = { projectId: args.project, storageBucket: `${args.project}.firebasestorage.app` };
  const resolved = await build.resolveBackend({
    build: want, firebaseConfig, userEnvs, nonInteractive: true, isEmulator: false,
    codebase: codebase.codebase,
  });
  for (const [k, v] of Object.entries(resolved.envs)) {
    result.params[k] = v.toString();
  }
  const endpoints = backend.allEndpoints(resolved.backend);
  validateFns.endpointsAreValid(resolved.backend);
  result.endpoints = endpoints.map((ep) => ({
    id: ep.id, region: ep.region, platform: ep.platform, runtime: ep.runtime, entryPoint: ep.entryPoint,
    availableMemoryMb: ep.availableMemoryMb, cpu: ep.cpu, concurrency: ep.concurrency,
    minInstances: ep.minInstances, maxInstances: ep.maxInstances, timeoutSeconds: ep.timeoutSeconds,
    eventTrigger: ep.eventTrigger,
  }));
  console.log(JSON.stringify(result, null, 2));
  process.exit(result.config_errors.length ? 1 : 0);
}

main().catch((err) => {
  console.log(JSON.stringify({ error: String(err && err.message ? err.message : err) }));
  process.exit(1);
});
