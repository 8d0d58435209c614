/* eslint-disable @nx/enforce-module-boundaries -- a workspace test: it loads each pod's environment with its app's own config schema (as docs.spec.ts reads those schemas) and the placeholder signing key with user-service's parser. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { loadConfig } from '@platform/service-kit';
import type { TObject } from '@sinclair/typebox';
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler, type IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Job, type IJob } from 'kubernetes-models/batch/v1/Job';
import { PodDisruptionBudget, type IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap, type IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import type { IPodTemplateSpec } from 'kubernetes-models/v1/PodTemplateSpec';
import { Secret, type ISecret } from 'kubernetes-models/v1/Secret';
import { Service, type IService } from 'kubernetes-models/v1/Service';
import { parse, parseAllDocuments } from 'yaml';
import { ConfigSchema as gatewayConfig } from '../apps/gateway-sandbox/src/config';
import { ConfigSchema as orderConfig } from '../apps/order-service/src/config';
import { ConfigSchema as paymentConfig } from '../apps/payment-service/src/config';
import { ConfigSchema as userConfig } from '../apps/user-service/src/config';
import { parseSigningKeys } from '../apps/user-service/src/tokens/signing-keys';

/**
 * deploy/k8s is checked without kubectl or a cluster: a small renderer below builds each
 * kustomization, every object is validated against the Kubernetes schemas of kubernetes-models
 * (strictly: a field the schema does not know fails, as with kubectl), and the promises the
 * manifests make (probes, security, ports, environment, scaling, migrations) are checked on the
 * rendered objects.
 */
const root = join(__dirname, '..');
const BASE = join(root, 'deploy/k8s/base');
const REDIS_CLUSTER = join(root, 'deploy/k8s/overlays/redis-cluster');
const REDIS_SENTINEL = join(root, 'deploy/k8s/overlays/redis-sentinel');
const MYSQL_REPLICAS = join(root, 'deploy/k8s/overlays/mysql-replicas');
const NAMESPACE = 'order-platform';
const CONTRACT_PORTS = { 'user-service': 3001, 'order-service': 3002, 'payment-service': 3003, 'gateway-sandbox': 3009 };
type App = keyof typeof CONTRACT_PORTS;
const APPS = Object.keys(CONTRACT_PORTS) as App[];
const DB_SERVICES = ['user-service', 'order-service', 'payment-service'] as const;
const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, { ports?: string[] }> };
const CONFIG_SCHEMAS: Record<App, TObject> = {
  'user-service': userConfig,
  'order-service': orderConfig,
  'payment-service': paymentConfig,
  'gateway-sandbox': gatewayConfig,
};

// --- The renderer: what `kubectl kustomize` does, for the features deploy/k8s uses --------------

type Json = Record<string, unknown>;
type Resource = Json & { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } };
interface Kustomization {
  namespace?: string;
  resources?: string[];
  images?: { name: string; newName?: string; newTag?: string; digest?: string }[];
  generatorOptions?: { disableNameSuffixHash?: boolean };
  secretGenerator?: { name: string; type?: string; literals?: string[]; behavior?: 'create' | 'merge' | 'replace' }[];
  patches?: { path?: string; patch?: string }[];
}

/** Every field the renderer implements; any other is refused, never silently ignored. */
const IMPLEMENTED = {
  kustomization: ['apiVersion', 'kind', 'namespace', 'resources', 'images', 'generatorOptions', 'secretGenerator', 'patches'],
  images: ['name', 'newName', 'newTag', 'digest'],
  generatorOptions: ['disableNameSuffixHash'],
  secretGenerator: ['name', 'type', 'literals', 'behavior'],
  patches: ['path', 'patch'],
};

function refuseUnimplemented(where: string, value: object, implemented: string[]): void {
  const others = Object.keys(value).filter((key) => !implemented.includes(key));
  if (others.length > 0) throw new Error(`${where}: ${others.join(', ')} not implemented by this renderer`);
}

const isMap = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Read as YAML 1.1, where `yes` and `on` are booleans: the older reading, which Kubernetes' go-yaml
 * may apply, so a value that only YAML 1.2 takes for a string fails the schemas here.
 */
function readDocuments(path: string, text = readFileSync(path, 'utf8')): unknown[] {
  return Array.from(parseAllDocuments(text, { version: '1.1' })).flatMap((doc) => {
    if (doc.errors.length > 0) throw new Error(`${path}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value: unknown = doc.toJS();
    return value === null ? [] : [value];
  });
}

function render(dir: string): Resource[] {
  const [kustomization] = readDocuments(join(dir, 'kustomization.yaml')) as Kustomization[];
  if (!kustomization) throw new Error(`${dir}: empty kustomization.yaml`);
  refuseUnimplemented(dir, kustomization, IMPLEMENTED.kustomization);
  const { namespace, resources = [], images = [], generatorOptions = {}, secretGenerator = [], patches = [] } = kustomization;
  const objects = resources.flatMap((entry) => {
    const path = resolve(dir, entry);
    return statSync(path).isDirectory() ? render(path) : (readDocuments(path) as Resource[]);
  });
  for (const generator of secretGenerator) {
    const secret = generatedSecret(dir, generator, generatorOptions);
    if ((generator.behavior ?? 'create') === 'create') {
      objects.push(secret);
      continue;
    }
    // An overlay's `merge` adds its keys to the base's Secret of that name (theirs win); `replace` swaps the data.
    const existing = objects.find((o) => o.kind === 'Secret' && o.metadata.name === generator.name);
    if (!existing) throw new Error(`${dir}: secretGenerator ${generator.name} (${generator.behavior}) has no Secret to change`);
    existing['data'] = generator.behavior === 'merge' ? { ...(existing['data'] as Json), ...(secret['data'] as Json) } : secret['data'];
  }
  const ids = objects.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`);
  const twice = ids.filter((id, i) => ids.indexOf(id) !== i);
  if (twice.length > 0) throw new Error(`${dir}: ${twice.join(', ')} defined twice`);
  for (const entry of patches) applyPatch(dir, objects, entry);
  // As kustomize does, a Namespace object is renamed to the namespace, every other object moved into it.
  for (const o of namespace ? objects : []) {
    if (o.kind === 'Namespace') o.metadata.name = namespace as string;
    else o.metadata.namespace = namespace;
  }
  for (const image of images) {
    refuseUnimplemented(`${dir} images`, image, IMPLEMENTED.images);
    for (const container of objects.flatMap(containersOf)) container.image = withImage(container.image ?? '', image);
  }
  return objects;
}

function generatedSecret(dir: string, generator: Required<Kustomization>['secretGenerator'][number], options: Kustomization['generatorOptions'] = {}): Resource {
  refuseUnimplemented(`${dir} secretGenerator ${generator.name}`, generator, IMPLEMENTED.secretGenerator);
  refuseUnimplemented(`${dir} generatorOptions`, options, IMPLEMENTED.generatorOptions);
  // kustomize would append a hash of the content to the name and rename every reference to it.
  if (options.disableNameSuffixHash !== true) throw new Error(`${dir}: name hashes not implemented by this renderer`);
  const data = Object.fromEntries(
    (generator.literals ?? []).map((literal) => {
      const at = literal.indexOf('=');
      if (at < 1) throw new Error(`${dir}: literal ${literal} is not KEY=value`);
      return [literal.slice(0, at), Buffer.from(literal.slice(at + 1)).toString('base64')];
    }),
  );
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name: generator.name }, type: generator.type ?? 'Opaque', data };
}

/** A strategic-merge patch, of maps only: merging lists by key and `$patch` directives are not implemented. */
function applyPatch(dir: string, objects: Resource[], entry: Required<Kustomization>['patches'][number]): void {
  refuseUnimplemented(`${dir} patches`, entry, IMPLEMENTED.patches);
  const docs = entry.path ? readDocuments(resolve(dir, entry.path)) : readDocuments(dir, entry.patch ?? '');
  for (const patch of docs as Resource[]) {
    const id = `${patch.kind}/${patch.metadata.name}`;
    const target = objects.find((o) => o.apiVersion === patch.apiVersion && `${o.kind}/${o.metadata.name}` === id);
    if (!target) throw new Error(`${dir}: the patch of ${id} matches no resource`);
    mergeInto(target, patch, id);
  }
}

function mergeInto(target: Json, patch: Json, where: string): void {
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$') || Array.isArray(value)) throw new Error(`${where}.${key}: list merges and directives not implemented by this renderer`);
    const current = target[key];
    if (value === null) delete target[key];
    else if (isMap(value) && isMap(current)) mergeInto(current, value, `${where}.${key}`);
    else target[key] = value;
  }
}

/** An image reference with kustomize's `images` entry applied, when the entry names it. */
function withImage(reference: string, entry: Required<Kustomization>['images'][number]): string {
  const [, name = '', tag, digest] = /^(.+?)(?::([\w.-]+))?(?:@(\S+))?$/.exec(reference) ?? [];
  if (name !== entry.name) return reference;
  if (entry.digest ?? digest) return `${entry.newName ?? name}@${entry.digest ?? digest}`;
  const newTag = entry.newTag ?? tag;
  return `${entry.newName ?? name}${newTag ? `:${newTag}` : ''}`;
}

const templateOf = (o: Resource): IPodTemplateSpec | undefined =>
  o.kind === 'Deployment' || o.kind === 'Job' ? (o as unknown as IDeployment | IJob).spec?.template : undefined;
const containersOf = (o: Resource): IContainer[] => {
  const pod = templateOf(o)?.spec;
  return [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])];
};

// --- Validation against the Kubernetes schemas ---------------------------------------------------

const MODELS: Record<string, { prototype: { validate(): void } }> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'batch/v1/Job': Job,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

/**
 * The value, with every object in it watched: each field the validator reads is noted in `read`.
 * A map (labels, data, resources.limits) is enumerated by the validator, so all its keys count.
 */
function watched(value: unknown, path: string, read: Set<string>, maps: [string, Json][]): unknown {
  if (Array.isArray(value)) return value.map((item, i) => watched(item, `${path}/${i}`, read, maps));
  if (!isMap(value)) return value;
  maps.push([path, value]);
  const copy = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, watched(v, `${path}/${k}`, read, maps)]));
  const note = (key: string | symbol) => typeof key === 'string' && read.add(`${path}/${key}`);
  return new Proxy(copy, {
    get: (target, key, receiver) => (note(key), Reflect.get(target, key, receiver)),
    has: (target, key) => (note(key), Reflect.has(target, key)),
    ownKeys: (target) => (Reflect.ownKeys(target).forEach(note), Reflect.ownKeys(target)),
  });
}

/**
 * What is wrong with one object: its schema's errors, and the fields the schema does not declare.
 * kubernetes-models' validators (Ajv, compiled from the OpenAPI schemas) let unknown fields through,
 * as the API server does with field validation off; kubectl refuses them, and a misspelt
 * `readinesProbe` would otherwise vanish unnoticed. A field the validator never read is unknown.
 */
function schemaProblems(object: Resource): string[] {
  const id = `${object.kind}/${object.metadata?.name}`;
  const model = MODELS[`${object.apiVersion}/${object.kind}`];
  if (!model) return [`${id}: no schema here for ${object.apiVersion} ${object.kind}`];
  const read = new Set<string>();
  const maps: [string, Json][] = [];
  try {
    model.prototype.validate.call(watched(object, '', read, maps));
  } catch (err) {
    return [`${id}: ${(err as Error).message}`];
  }
  const unknown = maps.flatMap(([path, map]) => Object.keys(map).map((key) => `${path}/${key}`)).filter((p) => !read.has(p));
  return unknown.filter((p) => !unknown.some((q) => p.startsWith(`${q}/`))).map((p) => `${id}: ${p} is not a field of ${object.kind}`);
}

// --- Reading the rendered objects ---------------------------------------------------------------

function find<T>(objects: Resource[], kind: string, name: string): T {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name}`);
  return found as unknown as T;
}
const all = <T>(objects: Resource[], kind: string): T[] => objects.filter((o) => o.kind === kind) as unknown as T[];
const deployment = (objects: Resource[], app: string) => find<IDeployment>(objects, 'Deployment', app);
const mainContainer = (d: IDeployment | IJob): IContainer => d.spec?.template.spec?.containers[0] as IContainer;
const secretData = (s: ISecret): Record<string, string> =>
  Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));

/** The environment the kubelet gives a container: envFrom in order, then env, which wins. */
function environment(objects: Resource[], container: IContainer): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    if (from.configMapRef) Object.assign(env, find<IConfigMap>(objects, 'ConfigMap', from.configMapRef.name ?? '').data);
    if (from.secretRef) Object.assign(env, secretData(find<ISecret>(objects, 'Secret', from.secretRef.name ?? '')));
  }
  for (const { name, value, valueFrom } of container.env ?? []) {
    const cm = valueFrom?.configMapKeyRef;
    const secret = valueFrom?.secretKeyRef;
    if (value !== undefined) env[name] = value;
    else if (cm) env[name] = find<IConfigMap>(objects, 'ConfigMap', cm.name ?? '').data?.[cm.key] ?? '';
    else if (secret) env[name] = secretData(find<ISecret>(objects, 'Secret', secret.name ?? ''))[secret.key] ?? '';
  }
  return env;
}

/** The names a container gets from its own env and Secrets, i.e. all but the shared ConfigMap. */
function ownVariables(objects: Resource[], container: IContainer): string[] {
  const fromSecrets = (container.envFrom ?? []).flatMap((f) => (f.secretRef ? Object.keys(secretData(find<ISecret>(objects, 'Secret', f.secretRef.name ?? ''))) : []));
  return [...fromSecrets, ...(container.env ?? []).map((e) => e.name)];
}

const selects = (selector: Record<string, string> | undefined, labels: Record<string, string> | undefined) =>
  Object.keys(selector ?? {}).length > 0 && Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
/** Names of the Deployments and Jobs whose pods a label selector picks. */
const podsSelected = (objects: Resource[], selector: Record<string, string> | undefined) =>
  objects.filter((o) => selects(selector, templateOf(o)?.metadata?.labels)).map((o) => `${o.kind}/${o.metadata.name}`);

// --- The tests -----------------------------------------------------------------------------------

const RENDERED = ['base', 'overlays/redis-cluster', 'overlays/redis-sentinel', 'overlays/mysql-replicas'] as const;
const CLUSTER_NODES = 'redis-cluster-0.redis-cluster:6379,redis-cluster-1.redis-cluster:6379,redis-cluster-2.redis-cluster:6379';
const SENTINELS = 'redis-sentinel-0.redis-sentinel:26379,redis-sentinel-1.redis-sentinel:26379,redis-sentinel-2.redis-sentinel:26379';

describe('deploy/k8s', () => {
  const base = render(BASE);
  const overlay = render(REDIS_CLUSTER);
  const sentinelOverlay = render(REDIS_SENTINEL);
  const replicas = render(MYSQL_REPLICAS);
  const rendered: Record<(typeof RENDERED)[number], Resource[]> = {
    base,
    'overlays/redis-cluster': overlay,
    'overlays/redis-sentinel': sentinelOverlay,
    'overlays/mysql-replicas': replicas,
  };

  it.each(RENDERED)('when %s is rendered, then every object validates against its Kubernetes schema', (name) => {
    const objects = rendered[name];
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(expect.arrayContaining(['Namespace/order-platform', 'Deployment/user-service']));
    expect(objects.flatMap(schemaProblems)).toEqual([]);
    expect(objects.filter((o) => o.kind !== 'Namespace' && o.metadata.namespace !== NAMESPACE)).toEqual([]);
    // The pods meet the "restricted" Pod Security Standard, and the namespace refuses any that does not.
    expect(find<Json>(objects, 'Namespace', NAMESPACE)['metadata']).toMatchObject({ labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } });
  });

  const mutations: [string, (d: IDeployment) => void, RegExp][] = [
    ['replicas is "two"', (d) => Object.assign(d.spec as object, { replicas: 'two' }), /replicas must be integer/],
    ['a containerPort is a string', (d) => Object.assign(mainContainer(d).ports?.[0] as object, { containerPort: '3001' }), /containerPort must be integer/],
    ['readinessProbe is misspelt', (d) => Object.assign(mainContainer(d), { readinesProbe: mainContainer(d).readinessProbe }), /containers\/0\/readinesProbe is not a field/],
    ['a field is added to the securityContext', (d) => Object.assign(mainContainer(d).securityContext as object, { privileged2: false }), /securityContext\/privileged2 is not a field/],
  ];
  it.each(mutations)('when %s, then schema validation fails', (_, mutate, problem) => {
    const broken = structuredClone(deployment(base, 'user-service'));
    mutate(broken);
    expect(schemaProblems(broken as unknown as Resource).join('\n')).toMatch(problem);
  });

  it('when a kind has no schema here, then validation says so rather than passing it', () => {
    const ingress = { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'x' } } as Resource;
    expect(schemaProblems(ingress)).toEqual(['Ingress/x: no schema here for networking.k8s.io/v1 Ingress']);
  });

  describe('an overlay of the base in a temporary folder', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'k8s-spec-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));
    const write = (text: string) => writeFileSync(join(dir, 'kustomization.yaml'), `resources: [${relative(dir, BASE)}]\n${text}`);

    it('when it sets images, then every Deployment and Job runs the new image', () => {
      write('images:\n  - { name: order-platform, newName: registry.example.com/order-platform, newTag: "1.4.0" }\n');
      const objects = render(dir);
      const images = objects.flatMap(containersOf).map((c) => c.image);
      expect(images).toHaveLength(APPS.length + DB_SERVICES.length);
      expect(new Set(images)).toEqual(new Set(['registry.example.com/order-platform:1.4.0']));
    });

    it.each([
      ['commonLabels', 'commonLabels: { team: payments }\n'],
      ['a configMapGenerator', 'configMapGenerator: [{ name: extra, literals: [A=b] }]\n'],
      ['a list in a patch', 'patches:\n  - patch: |-\n      { apiVersion: apps/v1, kind: Deployment, metadata: { name: user-service }, spec: { template: { spec: { containers: [] } } } }\n'],
    ])('when it uses %s, which the renderer does not implement, then rendering fails', (_, text) => {
      write(text);
      expect(() => render(dir)).toThrow(/not implemented by this renderer/);
    });
  });

  it.each(APPS)('when %s runs, then its probes, security context and resources are set', (app) => {
    const d = deployment(base, app);
    const pod = d.spec?.template.spec;
    const c = mainContainer(d);
    const port = (p: number | string | undefined) => (typeof p === 'number' ? p : c.ports?.find((cp) => cp.name === p)?.containerPort);
    expect(c.command).toEqual(['node', '--enable-source-maps', `dist/apps/${app}/main.js`]);
    expect(c.readinessProbe?.httpGet?.path).toBe('/health/ready');
    expect(port(c.readinessProbe?.httpGet?.port)).toBe(CONTRACT_PORTS[app]);
    expect(c.livenessProbe?.httpGet?.path).toBe('/health/live');
    expect(port(c.livenessProbe?.httpGet?.port)).toBe(CONTRACT_PORTS[app]);
    expect(c.lifecycle?.preStop?.exec?.command).toEqual(['sleep', expect.stringMatching(/^\d+$/)]);
    expect(pod?.automountServiceAccountToken).toBe(false);
  });

  it.each([...APPS.map((a) => ['Deployment', a]), ...DB_SERVICES.map((s) => ['Job', `${s}-migrate`])])(
    'when the %s %s runs, then as the non-root node user, read-only, unprivileged, with requests and limits',
    (kind, name) => {
      const workload = find<IDeployment | IJob>(base, kind, name);
      const pod = workload.spec?.template.spec;
      for (const c of containersOf(workload as unknown as Resource)) {
        const effective = <K extends 'runAsNonRoot' | 'runAsUser' | 'seccompProfile'>(key: K) => c.securityContext?.[key] ?? pod?.securityContext?.[key];
        expect(effective('runAsNonRoot')).toBe(true);
        expect(effective('runAsUser')).toBe(1000);
        expect(effective('seccompProfile')).toEqual({ type: 'RuntimeDefault' });
        expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
        expect(Object.keys(c.resources?.requests ?? {}).sort()).toEqual(['cpu', 'memory']);
        expect(Object.keys(c.resources?.limits ?? {}).sort()).toEqual(['cpu', 'memory']);
      }
    },
  );

  it.each(APPS)("when %s is exposed, then the contract port is the Service's, the container's, and compose's published one", (app) => {
    const [published, target] = (compose.services[app]?.ports?.[0] ?? '').split(':').map(Number);
    const service = find<IService>(base, 'Service', app);
    const c = mainContainer(deployment(base, app));
    const containerPort = c.ports?.find((p) => p.name === service.spec?.ports?.[0]?.targetPort)?.containerPort;
    expect([published, target]).toEqual([CONTRACT_PORTS[app], CONTRACT_PORTS[app]]);
    expect(service.spec?.type).toBe('ClusterIP');
    expect(service.spec?.ports?.map((p) => p.port)).toEqual([CONTRACT_PORTS[app]]);
    expect(containerPort).toBe(CONTRACT_PORTS[app]);
    expect(loadConfig(CONFIG_SCHEMAS[app], environment(base, c)).PORT).toBe(CONTRACT_PORTS[app]);
    expect(podsSelected(base, service.spec?.selector)).toEqual([`Deployment/${app}`]);
  });

  it.each(RENDERED.flatMap((r) => APPS.map((a) => [r, a] as const)))(
    'when %s gives %s its environment, then its config schema knows every variable and accepts every value',
    (name, app) => {
      const objects = rendered[name];
      const c = mainContainer(deployment(objects, app));
      const known = Object.keys(CONFIG_SCHEMAS[app].properties);
      expect(ownVariables(objects, c).filter((v) => !known.includes(v))).toEqual([]);
      expect(() => loadConfig(CONFIG_SCHEMAS[app], environment(objects, c))).not.toThrow();
    },
  );

  it('when a variable is in the shared ConfigMap, then some service that reads the ConfigMap knows it', () => {
    const readers = APPS.filter((app) => mainContainer(deployment(base, app)).envFrom?.some((f) => f.configMapRef?.name === 'platform-config'));
    const known = new Set(readers.flatMap((app) => Object.keys(CONFIG_SCHEMAS[app].properties)));
    expect(readers).toEqual(APPS);
    expect(Object.keys(find<IConfigMap>(base, 'ConfigMap', 'platform-config').data ?? {}).filter((v) => !known.has(v))).toEqual([]);
  });

  it('when the services load their environments, then each keeps its own Redis key prefix and shares the auth and events ones', () => {
    const configs = DB_SERVICES.map((s) => loadConfig(CONFIG_SCHEMAS[s], environment(base, mainContainer(deployment(base, s)))) as Json);
    expect(new Set(configs.map((c) => c['REDIS_KEY_PREFIX'])).size).toBe(DB_SERVICES.length);
    expect(new Set(configs.map((c) => `${String(c['AUTH_REDIS_KEY_PREFIX'])} ${String(c['JWT_ISSUER'])} ${String(c['JWT_AUDIENCE'])}`)).size).toBe(1);
  });

  it.each(APPS)('when %s is told to stop, then its grace period covers the preStop sleep and SHUTDOWN_TIMEOUT_MS', (app) => {
    const d = deployment(base, app);
    const c = mainContainer(d);
    const sleepMs = Number(c.lifecycle?.preStop?.exec?.command?.[1]) * 1000;
    const { SHUTDOWN_TIMEOUT_MS } = loadConfig(CONFIG_SCHEMAS[app], environment(base, c)) as { SHUTDOWN_TIMEOUT_MS: number };
    expect(sleepMs).toBeGreaterThan(0);
    expect((d.spec?.template.spec?.terminationGracePeriodSeconds ?? 30) * 1000).toBeGreaterThan(sleepMs + SHUTDOWN_TIMEOUT_MS);
  });

  it.each(DB_SERVICES)('when the redis-cluster overlay is applied, then %s uses the cluster nodes', (app) => {
    const env = (objects: Resource[]) => environment(objects, mainContainer(deployment(objects, app)));
    expect(env(base)['REDIS_CLUSTER_NODES']).toBeUndefined();
    expect(env(overlay)['REDIS_CLUSTER_NODES']).toBe(CLUSTER_NODES);
    expect((loadConfig(CONFIG_SCHEMAS[app], env(overlay)) as Json)['REDIS_CLUSTER_NODES']).toBe(CLUSTER_NODES);
  });

  it.each(DB_SERVICES)('when the mysql-replicas overlay is applied, then %s reads its own schema on each replica with its own account, and migrates the primary only', (app) => {
    const schema = app.replace('-', '_');
    const env = (objects: Resource[]) => environment(objects, mainContainer(deployment(objects, app)));
    expect(env(base)['DATABASE_REPLICA_URLS']).toBeUndefined();
    const urls = (env(replicas)['DATABASE_REPLICA_URLS'] ?? '').split(',');
    expect(urls.length).toBeGreaterThanOrEqual(2);
    for (const url of urls) expect(url).toMatch(new RegExp(`^mysql://${schema}:PLACEHOLDER[^@]*@mysql-replica-\\d\\.mysql-replica:3306/${schema}$`));
    // Merged into the Secret: the primary's URL is still there, and the migration Job still reads only it.
    expect(env(replicas)['DATABASE_URL']).toBe(env(base)['DATABASE_URL']);
    expect(mainContainer(find<IJob>(replicas, 'Job', `${app}-migrate`)).env?.map((e) => e.name)).not.toContain('DATABASE_REPLICA_URLS');
    const config = loadConfig(CONFIG_SCHEMAS[app], env(replicas)) as Json;
    expect(config['DATABASE_REPLICA_URLS']).toBe(urls.join(','));
    expect(config['DB_REPLICA_MAX_LAG_MS']).toBe(1_000);
  });

  it('when an overlay merges into a Secret the base does not make, then rendering says so', () => {
    const dir = mkdtempSync(join(tmpdir(), 'k8s-spec-'));
    try {
      writeFileSync(
        join(dir, 'kustomization.yaml'),
        `resources: [${relative(dir, BASE)}]\ngeneratorOptions: { disableNameSuffixHash: true }\nsecretGenerator:\n  - { name: nobody-db, behavior: merge, literals: [A=b] }\n`,
      );
      expect(() => render(dir)).toThrow(/secretGenerator nobody-db \(merge\) has no Secret to change/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each(DB_SERVICES)('when the redis-sentinel overlay is applied, then %s finds the primary through the sentinels', (app) => {
    const env = (objects: Resource[]) => environment(objects, mainContainer(deployment(objects, app)));
    expect(env(base)['REDIS_SENTINELS']).toBeUndefined();
    expect(env(sentinelOverlay)['REDIS_CLUSTER_NODES']).toBeUndefined();
    expect(loadConfig(CONFIG_SCHEMAS[app], env(sentinelOverlay))).toMatchObject({ REDIS_SENTINELS: SENTINELS, REDIS_SENTINEL_NAME: 'mymaster' });
  });

  it.each(DB_SERVICES)("when %s's schema is migrated, then its Job runs its migrate.js with its own Secret", (app) => {
    const job = find<IJob>(base, 'Job', `${app}-migrate`);
    const c = mainContainer(job);
    const schema = app.replace('-', '_');
    const secretRef = c.env?.find((e) => e.name === 'DATABASE_URL')?.valueFrom?.secretKeyRef;
    expect(c.command).toEqual(['node', '--enable-source-maps', `dist/apps/${app}/migrate.js`, 'up']);
    expect(c.image).toBe(mainContainer(deployment(base, app)).image);
    expect(secretRef).toEqual({ name: `${app}-db`, key: 'DATABASE_URL' });
    expect(mainContainer(deployment(base, app)).envFrom).toContainEqual({ secretRef: { name: `${app}-db` } });
    expect(environment(base, c)['DATABASE_URL']).toMatch(new RegExp(`^mysql://${schema}:[^@]+@[^/]+/${schema}$`));
    expect(job.spec).toMatchObject({ backoffLimit: expect.any(Number), ttlSecondsAfterFinished: expect.any(Number) });
    expect(job.spec?.template.spec?.restartPolicy).toBe('Never');
  });

  it.each(DB_SERVICES)('when %s is scaled and disrupted, then an HPA (2 to 10 on CPU) and a PDB (minAvailable 1) target it', (app) => {
    const hpas = all<IHorizontalPodAutoscaler>(base, 'HorizontalPodAutoscaler').filter((h) => h.spec?.scaleTargetRef.name === app);
    const pdbs = all<IPodDisruptionBudget>(base, 'PodDisruptionBudget').filter((p) => podsSelected(base, p.spec?.selector?.matchLabels).length > 0);
    const own = pdbs.filter((p) => podsSelected(base, p.spec?.selector?.matchLabels).includes(`Deployment/${app}`));
    expect(hpas).toHaveLength(1);
    expect(hpas[0]?.spec).toMatchObject({
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: app },
      minReplicas: 2,
      maxReplicas: 10,
      metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization' } } }],
    });
    expect(own).toHaveLength(1);
    expect(own[0]?.spec?.minAvailable).toBe(1);
    expect(podsSelected(base, own[0]?.spec?.selector?.matchLabels)).toEqual([`Deployment/${app}`]);
    // The HPA owns the replica count; one in the Deployment would reset it on every apply.
    expect(deployment(base, app).spec?.replicas).toBeUndefined();
  });

  it('when the sandbox runs, then as one replica that no HPA or PDB touches, since its ledger is in memory', () => {
    const sandbox = deployment(base, 'gateway-sandbox');
    const pdbSelectors = all<IPodDisruptionBudget>(base, 'PodDisruptionBudget').map((p) => p.spec?.selector?.matchLabels);
    expect(sandbox.spec?.replicas).toBe(1);
    expect(sandbox.spec?.strategy?.type).toBe('Recreate');
    expect(all<IHorizontalPodAutoscaler>(base, 'HorizontalPodAutoscaler').map((h) => h.spec?.scaleTargetRef.name)).not.toContain('gateway-sandbox');
    expect(pdbSelectors.flatMap((s) => podsSelected(base, s))).not.toContain('Deployment/gateway-sandbox');
  });

  it('when the base is committed, then every Secret value in it is a marked placeholder', () => {
    const secrets = all<ISecret>(base, 'Secret');
    expect(secrets.map((s) => s.metadata?.name).sort()).toEqual(['order-service-db', 'payment-service-db', 'platform-peer', 'user-service-db', 'user-service-jwt']);
    expect(secrets.flatMap((s) => Object.entries(secretData(s))).filter(([, v]) => !v.includes('PLACEHOLDER'))).toEqual([]);
  });

  it('when a key is made with the documented one-liner, then user-service accepts it, and refuses the placeholder', () => {
    const oneLiner = /node -e "(.+)"$/m.exec(readFileSync(join(BASE, 'kustomization.yaml'), 'utf8'))?.[1] ?? '';
    expect(oneLiner).toContain("generateKeyPairSync('ed25519')");
    expect(readFileSync(join(root, 'deploy/k8s/README.md'), 'utf8')).toContain(oneLiner);
    const keys = execFileSync(process.execPath, ['-e', oneLiner], { encoding: 'utf8' }).trim();
    expect(parseSigningKeys(keys).jwks.keys).toHaveLength(1);
    const placeholder = secretData(find<ISecret>(base, 'Secret', 'user-service-jwt'))['JWT_SIGNING_KEYS'] ?? '';
    expect(() => parseSigningKeys(placeholder)).toThrow(/JWT_SIGNING_KEYS/);
  });
});
