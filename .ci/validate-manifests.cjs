#!/usr/bin/env node
/*
 * Validates rendered Kubernetes manifests (multi-document YAML) offline, for .ci/validate-deploy.sh:
 *
 * 1. schema: every object against the Kubernetes OpenAPI JSON schemas compiled with ajv in the
 *    npm package kubernetes-models (types, required fields, formats, enums);
 * 2. strict: no field the API does not know (a typo like `readinesProbe` is silently dropped by
 *    the API server), by type-checking every object as an object literal of its type from the npm
 *    package kubernetes-types with the project's TypeScript (excess property checks);
 * 3. wiring: namespaced objects carry a namespace, every ConfigMap and Secret a pod refers to is
 *    in the render (or named with --external), every Service selects pods, probe ports name a
 *    container port, and every Locus container has /healthz and /readyz probes and the Prometheus
 *    scrape annotations on its metrics port.
 *
 * Usage: node .ci/validate-manifests.cjs [--name LABEL] [--external NAME]... [--crd GROUP/VERSION/KIND]... FILE
 * Objects of a --crd kind have no schema offline: only apiVersion, kind, metadata.name and spec are checked.
 * Module lookup: the repository's node_modules, then LOCUS_DEPLOY_TOOLS/node_modules.
 * Exit status 0 when every object passes, 1 otherwise.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const repo = path.resolve(__dirname, '..');
const searchPaths = [repo, ...(process.env.LOCUS_DEPLOY_TOOLS ? [process.env.LOCUS_DEPLOY_TOOLS] : [])];
const need = (id) => require(require.resolve(id, { paths: searchPaths }));

const args = process.argv.slice(2);
const external = new Set();
const crds = new Set();
let file;
let name;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--name') name = args[++i];
  else if (args[i] === '--external') external.add(args[++i]);
  else if (args[i] === '--crd') crds.add(args[++i]);
  else file = args[i];
}
if (!file) {
  console.error('usage: validate-manifests.cjs [--name LABEL] [--external NAME]... [--crd GROUP/VERSION/KIND]... FILE');
  process.exit(2);
}
name = name || path.basename(file);

const YAML = need('yaml');
const ts = need('typescript');
const typesDir = path.dirname(require.resolve('kubernetes-types/package.json', { paths: searchPaths }));

const problems = [];
const report = (obj, msg) => problems.push(`${label(obj)}: ${msg}`);
const label = (o) => (o && o.kind ? `${o.kind}/${(o.metadata && o.metadata.name) || '?'}` : `document ${o && o.__index}`);

// ---- parse ----
const docs = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'));
const objects = [];
let stubs = 0;
docs.forEach((doc, index) => {
  if (doc.errors.length) return problems.push(`document ${index}: YAML: ${doc.errors.map((e) => e.message).join('; ')}`);
  const value = doc.toJSON();
  if (value === null || value === undefined) return;
  // kustomize 2.0.3 (Debian's kubectl 1.20) leaves `{}` where a `$patch: delete` removed an object.
  if (typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0) return void stubs++;
  Object.defineProperty(value, '__index', { value: index, enumerable: false });
  // Current kustomize wraps long base64 values over lines; the API server's decoder skips \r and \n, so do we.
  if (value.kind === 'Secret' && value.data && typeof value.data === 'object')
    for (const [k, v] of Object.entries(value.data)) if (typeof v === 'string') value.data[k] = v.replace(/[\r\n]/g, '');
  objects.push(value);
});

// ---- 1. schema (kubernetes-models) ----
const modelOf = (o) => {
  try {
    const mod = need(`kubernetes-models/${o.apiVersion}`);
    return typeof mod[o.kind] === 'function' ? mod[o.kind] : undefined;
  } catch {
    return undefined;
  }
};
const crdObjects = [];
for (const o of objects) {
  if (typeof o !== 'object' || Array.isArray(o)) {
    report(o, 'not an object');
    continue;
  }
  if (!o.apiVersion || !o.kind) report(o, 'apiVersion and kind are required');
  if (!o.metadata || typeof o.metadata.name !== 'string' || !o.metadata.name) report(o, 'metadata.name is required');
  if (!o.apiVersion || !o.kind) continue;
  if (crds.has(`${o.apiVersion}/${o.kind}`)) {
    if (typeof o.spec !== 'object' || o.spec === null) report(o, 'spec is required');
    crdObjects.push(o);
    continue;
  }
  const Model = modelOf(o);
  if (!Model) {
    report(o, `${o.apiVersion} ${o.kind} is not a Kubernetes kind this validator has a schema for (a CRD? pass --crd ${o.apiVersion}/${o.kind})`);
    continue;
  }
  try {
    new Model(o).validate();
  } catch (err) {
    report(o, `schema: ${err.message}`);
  }
}

// ---- 2. strict fields (kubernetes-types + TypeScript) ----
const typeModuleOf = (apiVersion) => {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['core', apiVersion];
  const rel = `${group.split('.')[0]}/${version}`;
  return fs.existsSync(path.join(typesDir, `${rel}.d.ts`)) ? rel : undefined;
};
{
  const virtual = path.join(repo, '.ci', '__manifests__.ts');
  const imports = new Map();
  const spans = [];
  let body = '';
  for (const o of objects) {
    if (!o.apiVersion || !o.kind || crds.has(`${o.apiVersion}/${o.kind}`)) continue;
    const mod = typeModuleOf(o.apiVersion);
    if (!mod) {
      report(o, `no TypeScript type for ${o.apiVersion} in kubernetes-types: fields not checked strictly`);
      continue;
    }
    if (!imports.has(mod)) imports.set(mod, `T${imports.size}`);
    const statement = `export const o${spans.length}: ${imports.get(mod)}.${o.kind} = ${JSON.stringify(o, null, 2)};\n`;
    spans.push({ o, start: body.length, end: body.length + statement.length });
    body += statement;
  }
  const head = [...imports].map(([mod, alias]) => `import type * as ${alias} from 'kubernetes-types/${mod}';\n`).join('');
  const text = head + body;
  const options = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10 ?? ts.ModuleResolutionKind.NodeJs,
    baseUrl: repo,
    paths: { 'kubernetes-types/*': [path.join(typesDir, '*')] },
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) => (path.resolve(name) === virtual ? ts.createSourceFile(name, text, lang) : getSourceFile(name, lang, ...rest));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => path.resolve(name) === virtual || fileExists(name);
  const program = ts.createProgram([virtual], options, host);
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const full = ts.flattenDiagnosticMessageText(d.messageText, ' ');
    const message = full.length > 300 ? `${full.slice(0, 300)}…` : full;
    if (!d.file || path.resolve(d.file.fileName) !== virtual || d.start === undefined) {
      problems.push(`type check: ${message}`);
      continue;
    }
    const at = d.start - head.length;
    const span = spans.find((s) => at >= s.start && at < s.end);
    const where = span ? fieldPath(text, d.start, head.length + span.start) : '';
    if (span) report(span.o, `strict: ${where ? `${where}: ` : ''}${message}`);
    else problems.push(`type check: ${message}`);
  }
}

/** The JSON path (a.b[0].c) of the key at `pos` in the pretty-printed literal starting at `from`. */
function fieldPath(text, pos, from) {
  const stack = [];
  let key;
  let inString = false;
  let token = '';
  for (let i = text.indexOf('=', from) + 1; i < pos && i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === '\\') {
        token += text[++i];
        continue;
      }
      if (ch === '"') inString = false;
      else token += ch;
      continue;
    }
    if (ch === '"') {
      inString = true;
      token = '';
    } else if (ch === ':') key = token;
    else if (ch === '{') stack.push({ key, index: -1, array: false });
    else if (ch === '[') stack.push({ key, index: 0, array: true });
    else if (ch === '}' || ch === ']') stack.pop();
    else if (ch === ',' && stack.length && stack[stack.length - 1].array) stack[stack.length - 1].index++;
  }
  const parts = [];
  for (const [i, s] of stack.entries()) {
    if (i > 0 && s.key !== undefined && !stack[i - 1].array) parts.push(s.key);
    if (s.array) parts.push(`[${s.index}]`);
  }
  return parts.join('.').replace(/\.\[/g, '[');
}

// ---- 3. wiring ----
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'PersistentVolume', 'StorageClass', 'PriorityClass', 'ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration']);
const named = (kind) => new Set(objects.filter((o) => o.kind === kind && o.metadata).map((o) => o.metadata.name));
const configMaps = named('ConfigMap');
const secrets = named('Secret');
const podSpecOf = (o) => {
  if (['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job'].includes(o.kind)) return o.spec && o.spec.template && o.spec.template;
  if (o.kind === 'CronJob') return o.spec && o.spec.jobTemplate && o.spec.jobTemplate.spec && o.spec.jobTemplate.spec.template;
  if (o.kind === 'Pod') return o;
  return undefined;
};
const workloads = objects.map((o) => ({ o, pod: podSpecOf(o) })).filter((w) => w.pod && w.pod.spec);
const locusConfig = objects.find((o) => o.kind === 'ConfigMap' && /^locus-config(-[a-z0-9]{10})?$/.test(o.metadata.name));

for (const o of objects) {
  if (o.kind && o.metadata && !CLUSTER_SCOPED.has(o.kind) && !o.metadata.namespace) report(o, 'namespaced object without metadata.namespace');
}
for (const { o, pod } of workloads) {
  const spec = pod.spec;
  const refs = [];
  for (const v of spec.volumes || []) {
    if (v.configMap) refs.push(['ConfigMap', v.configMap.name, v.configMap.optional]);
    if (v.secret) refs.push(['Secret', v.secret.secretName, v.secret.optional]);
  }
  const containers = [...(spec.initContainers || []), ...(spec.containers || [])];
  for (const c of containers) {
    for (const e of c.envFrom || []) {
      if (e.configMapRef) refs.push(['ConfigMap', e.configMapRef.name, e.configMapRef.optional]);
      if (e.secretRef) refs.push(['Secret', e.secretRef.name, e.secretRef.optional]);
    }
    for (const e of c.env || []) {
      const f = e.valueFrom || {};
      if (f.configMapKeyRef) refs.push(['ConfigMap', f.configMapKeyRef.name, f.configMapKeyRef.optional, f.configMapKeyRef.key]);
      if (f.secretKeyRef) refs.push(['Secret', f.secretKeyRef.name, f.secretKeyRef.optional, f.secretKeyRef.key]);
    }
    const portNames = new Set((c.ports || []).map((p) => p.name).filter(Boolean));
    for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
      const p = c[probe] && (c[probe].httpGet || c[probe].tcpSocket);
      if (p && typeof p.port === 'string' && !portNames.has(p.port)) report(o, `container ${c.name}: ${probe} port "${p.port}" is not one of its named ports`);
    }
  }
  for (const [kind, name, optional, key] of refs) {
    if (optional || external.has(name)) continue;
    const pool = kind === 'ConfigMap' ? configMaps : secrets;
    if (!pool.has(name)) report(o, `refers to ${kind} ${name}, which is not in the render (pass --external ${name} if something else creates it)`);
    else if (key) {
      const target = objects.find((x) => x.kind === kind && x.metadata.name === name);
      const keys = Object.keys({ ...(target.data || {}), ...(target.stringData || {}) });
      if (!keys.includes(key)) report(o, `refers to key ${key} of ${kind} ${name}, which has only ${keys.join(', ')}`);
    }
  }
  // Locus services: liveness on /healthz, readiness on /readyz, scraped on the metrics port.
  for (const c of spec.containers || []) {
    if (!/^locus(:|@|$)/.test(String(c.image).split('/').pop())) continue;
    const metrics = (c.ports || []).find((p) => p.name === 'metrics');
    if (!metrics) {
      report(o, `container ${c.name}: no port named metrics`);
      continue;
    }
    const httpGet = (probe) => c[probe] && c[probe].httpGet;
    if (!httpGet('livenessProbe') || httpGet('livenessProbe').path !== '/healthz') report(o, `container ${c.name}: livenessProbe must GET /healthz`);
    if (!httpGet('readinessProbe') || httpGet('readinessProbe').path !== '/readyz') report(o, `container ${c.name}: readinessProbe must GET /readyz`);
    const ann = (pod.metadata && pod.metadata.annotations) || {};
    if (ann['prometheus.io/scrape'] !== 'true') report(o, 'pod template lacks the annotation prometheus.io/scrape: "true"');
    if (ann['prometheus.io/port'] !== String(metrics.containerPort)) report(o, `pod annotation prometheus.io/port must be the metrics port ${metrics.containerPort}`);
    const fromConfig = locusConfig && locusConfig.data && locusConfig.data.LOCUS_METRICS_PORT;
    const own = (c.env || []).find((e) => e.name === 'LOCUS_METRICS_PORT');
    const port = own ? own.value : fromConfig;
    if (String(port) !== String(metrics.containerPort)) report(o, `container ${c.name}: LOCUS_METRICS_PORT is ${port}, the metrics port ${metrics.containerPort}`);
  }
}
for (const svc of objects.filter((o) => o.kind === 'Service' && o.spec && o.spec.selector)) {
  const sel = Object.entries(svc.spec.selector);
  const hit = workloads.some(({ o, pod }) => o.metadata.namespace === svc.metadata.namespace && sel.every(([k, v]) => ((pod.metadata && pod.metadata.labels) || {})[k] === v));
  if (!hit) report(svc, `selector ${JSON.stringify(svc.spec.selector)} matches no pod template`);
}

// ---- result ----
const kinds = {};
for (const o of objects) if (o.kind) kinds[o.kind] = (kinds[o.kind] || 0) + 1;
const summary = Object.entries(kinds)
  .map(([k, n]) => `${n} ${k}`)
  .join(', ');
if (problems.length) {
  for (const p of problems) console.error(`  ✗ ${p}`);
  console.error(`${name}: ${problems.length} problem(s) in ${objects.length} objects`);
  process.exit(1);
}
const notes = [
  ...(crdObjects.length ? [`${crdObjects.map(label).join(', ')} not schema-checked (CRD, no schema offline)`] : []),
  ...(stubs ? [`${stubs} empty document(s) left by kustomize 2.0.3's $patch: delete skipped`] : []),
];
console.log(`${name}: ${objects.length} objects valid (${summary})${notes.length ? `; ${notes.join('; ')}` : ''}`);
