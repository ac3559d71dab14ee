import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { cgroupQuota, combineLimits, affinityCpus } from '../../src/config/cpus.js';
import { deployApp } from '../helpers/deploy.js';
import { ROOT, runGserve, startGserve, tempDir } from '../helpers/gserve.js';

/**
 * The deployment files cannot all run here (no Docker engine, no cluster): each is parsed, and
 * every value that must agree with gserve is checked against what the real binary makes of it
 * (`gserve --print-config` with the file's flags and environment).
 */
const DEPLOY = join(ROOT, 'examples/deploy');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

interface Printed {
  values: Record<string, unknown>;
  sources: Record<string, string>;
}

/** What gserve resolves from these flags and environment variables. */
async function printConfig(args: string[], env: Record<string, string>): Promise<Printed> {
  const clean: Record<string, string | undefined> = { PORT: undefined, WEB_CONCURRENCY: undefined, ...env };
  for (const key of Object.keys(process.env)) if (key.startsWith('GSERVE_') && !(key in env)) clean[key] = undefined;
  const r = await runGserve([...args, '--print-config'], { env: clean, noBind: true, cwd: tempDir() });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const printed: Printed = { values: {}, sources: {} };
  for (const line of r.stdout.trim().split('\n')) {
    const m = /^(\w+)\s+= (.*?) {2}# (.*)$/.exec(line);
    if (!m) throw new Error(`unexpected --print-config line: ${line}`);
    printed.values[m[1]!] = JSON.parse(m[2]!);
    printed.sources[m[1]!] = m[3]!;
  }
  // An unknown GSERVE_* variable is ignored by gserve, so a misspelt one must fail here.
  for (const name of Object.keys(env).filter((k) => k.startsWith('GSERVE_'))) {
    expect(Object.values(printed.sources), `${name} is not a gserve setting`).toContain(`environment variable ${name}`);
  }
  return printed;
}

const seconds = (s: string | number) => {
  const m = /^(\d+(?:\.\d+)?)(s|m)?$/.exec(String(s).trim());
  if (!m) throw new Error(`not a duration: ${s}`);
  return Number(m[1]) * (m[2] === 'm' ? 60 : 1);
};

// ---- Dockerfile ---------------------------------------------------------------------------------

interface Instruction {
  op: string;
  args: string;
  stage: number;
}

/** Dockerfile instructions: comments dropped, continuation lines joined, stages numbered. */
function parseDockerfile(text: string): {
  instructions: Instruction[];
  stages: Array<{ image: string; name: string | null }>;
} {
  const instructions: Instruction[] = [];
  const stages: Array<{ image: string; name: string | null }> = [];
  const globalArgs: Record<string, string> = {};
  let pending = '';
  for (const raw of text.split('\n')) {
    if (/^\s*#/.test(raw) || (!pending && raw.trim() === '')) continue;
    if (/\\\s*$/.test(raw)) {
      pending += raw.replace(/\\\s*$/, ' ');
      continue;
    }
    const line = (pending + raw).trim();
    pending = '';
    const m = /^(\w+)\s+(.*)$/s.exec(line);
    if (!m) throw new Error(`cannot parse Dockerfile line: ${line}`);
    const op = m[1]!.toUpperCase();
    const args = m[2]!.replace(/\s+/g, ' ');
    if (op === 'ARG' && stages.length === 0) {
      const [name, value = ''] = args.split('=');
      globalArgs[name!] = value;
    }
    if (op === 'FROM') {
      const f = /^(\S+)(?: AS (\S+))?$/i.exec(args)!;
      stages.push({ image: f[1]!.replace(/\$\{(\w+)\}/g, (_, n: string) => globalArgs[n] ?? ''), name: f[2] ?? null });
    }
    instructions.push({ op, args, stage: stages.length - 1 });
  }
  return { instructions, stages };
}

/** Whether .dockerignore keeps `path` out of the build context (last matching rule wins). */
function dockerIgnored(rules: string[], path: string): boolean {
  let ignored = false;
  for (const rule of rules) {
    const negate = rule.startsWith('!');
    const pattern = (negate ? rule.slice(1) : rule).replace(/^\/|\/$/g, '');
    const re = new RegExp(
      '^' +
        pattern
          .split('*')
          .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
          .join('[^/]*') +
        '(/.*)?$',
    );
    if (re.test(path)) ignored = !negate;
  }
  return ignored;
}

describe('Dockerfile', () => {
  const { instructions, stages } = parseDockerfile(read('Dockerfile'));
  const final = stages.length - 1;
  const inFinal = (op: string) => instructions.filter((i) => i.op === op && i.stage === final);
  const one = (op: string) => {
    const found = inFinal(op);
    expect(found, `${op} in the final stage`).toHaveLength(1);
    return found[0]!.args;
  };
  const imageEnv: Record<string, string> = {};
  for (const i of inFinal('ENV')) for (const [, k, v] of i.args.matchAll(/(\w+)=(\S+)/g)) imageEnv[k!] = v!;

  it(
    'is multi-stage on the official Node 24 slim image, building in one stage and installing production ' +
      'dependencies in the other',
    () => {
      expect(stages.length).toBeGreaterThanOrEqual(2);
      for (const s of stages) expect(s.image).toBe('node:24-slim');
      const build = stages.findIndex((s) => s.name !== null);
      const buildRuns = instructions
        .filter((i) => i.op === 'RUN' && i.stage === build)
        .map((i) => i.args)
        .join('\n');
      expect(buildRuns).toMatch(/npm ci/);
      expect(buildRuns).toMatch(/npm run build/);
      // `prepare` runs tsc, a dev dependency: the runtime install must not run it.
      expect(
        inFinal('RUN')
          .map((i) => i.args)
          .join('\n'),
      ).toMatch(/npm ci (?=.*--omit=dev)(?=.*--ignore-scripts)/);
      expect(inFinal('COPY').map((i) => i.args)).toContain(`--from=${stages[build]!.name} /src/dist ./dist`);
    },
  );

  it('runs gserve as a non-root user, as the entrypoint, stopped by TERM, with a health check', () => {
    expect(one('USER')).not.toMatch(/^(root|0)(:|$)/);
    expect(JSON.parse(one('ENTRYPOINT'))).toEqual(['gserve']);
    expect(imageEnv.PATH).toMatch(/^\/opt\/gserve\/bin:/);
    expect(one('STOPSIGNAL')).toBe('SIGTERM');
    expect(one('HEALTHCHECK')).toMatch(/^--interval=\S+ .*CMD \[/);
    expect(one('EXPOSE')).toBe(imageEnv.PORT);
  });

  it('copies only files that exist and that .dockerignore lets into the build context', () => {
    const rules = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    const sources = instructions
      .filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'))
      .flatMap((i) =>
        i.args
          .replace(/--\S+ /g, '')
          .split(' ')
          .slice(0, -1),
      );
    expect(sources.length).toBeGreaterThan(3);
    for (const source of sources) {
      expect(existsSync(join(ROOT, source)), `${source} exists`).toBe(true);
      expect(dockerIgnored(rules, source), `${source} is not in .dockerignore`).toBe(false);
    }
    expect(dockerIgnored(rules, 'node_modules')).toBe(true);
    expect(dockerIgnored(rules, 'examples/hello-fetch')).toBe(true);
  });

  it('sets environment defaults that gserve accepts: all addresses, workers auto, the health path', async () => {
    const gserveEnv = Object.fromEntries(
      Object.entries(imageEnv).filter(([k]) => k.startsWith('GSERVE_') || k === 'PORT'),
    );
    const { values } = await printConfig([], gserveEnv);
    expect(values.bind).toEqual([`0.0.0.0:${imageEnv.PORT}`]);
    expect(gserveEnv.GSERVE_WORKERS).toBe('auto');
    expect(values.healthPath).toBe('/healthz');
  });

  it('has a HEALTHCHECK command that passes against a serving gserve and fails without one', async () => {
    const command: string[] = JSON.parse(one('HEALTHCHECK').replace(/^.*?CMD /, ''));
    expect(command[0]).toBe('node');
    const g = await startGserve(['--health-path', '/healthz', deployApp('node')]);
    const runCheck = (port: number) =>
      new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, command.slice(1), {
          env: { ...process.env, PORT: String(port), GSERVE_HEALTH_PATH: '/healthz' },
          stdio: 'ignore',
        });
        child.on('exit', (code) => resolve(code));
      });
    expect(await runCheck(g.port)).toBe(0);
    g.signal('SIGINT');
    await g.exited;
    expect(await runCheck(g.port)).toBe(1);
  });
});

// ---- Kubernetes ---------------------------------------------------------------------------------

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML, checked field by field
type Obj = Record<string, any>;
const k8sDocs = (file: string) => yaml.loadAll(read(`examples/deploy/kubernetes/${file}`)) as Obj[];

describe('Kubernetes example', () => {
  const docs = [...k8sDocs('deployment.yaml'), ...k8sDocs('hpa.yaml')];
  const byKind = (kind: string) => {
    const found = docs.filter((d) => d.kind === kind);
    expect(found, kind).toHaveLength(1);
    return found[0]!;
  };
  const deployment = byKind('Deployment');
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];
  const env = Object.fromEntries(
    (container.env as Array<{ name: string; value: string }>).map((e) => [e.name, e.value]),
  );

  it('gives gserve settings it accepts, and a grace period above shutdown delay plus graceful timeout', async () => {
    const { values } = await printConfig(container.args, env);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(
      (values.gracefulTimeout as number) + (values.shutdownDelay as number),
    );
    expect(values.shutdownDelay).toBeGreaterThan(0);
    // The ingress controller is a proxy: its forwarded headers must be believed.
    expect(values.forwardedAllowIps).toEqual(['10.0.0.0/8']);
    const port = container.ports.find((p: Obj) => p.name === 'http');
    expect(values.bind).toEqual([`0.0.0.0:${port.containerPort}`]);
    for (const probe of [container.readinessProbe, container.livenessProbe]) {
      expect(probe.httpGet.path).toBe(values.healthPath);
      expect(probe.httpGet.port).toBe('http');
    }
  });

  it('sets the CPU limit that --workers auto reads, and the request the autoscaler measures against', () => {
    expect(env.GSERVE_WORKERS).toBe('auto');
    const limit = String(container.resources.limits.cpu);
    expect(container.resources.requests.cpu).toBeDefined();
    // What the kubelet writes to the container's cpu.max for that limit, read back by gserve.
    const millis = limit.endsWith('m') ? Number(limit.slice(0, -1)) : Number(limit) * 1000;
    const root = tempDir();
    mkdirSync(join(root, 'kubepods/pod/ctr'), { recursive: true });
    writeFileSync(join(root, 'kubepods/pod/ctr/cpu.max'), `${millis * 100} 100000\n`);
    const found = cgroupQuota(root, '0::/kubepods/pod/ctr\n');
    expect(found?.quota).toBe(millis / 1000);
    expect(combineLimits(64, found!.quota)).toBe(Math.floor(millis / 1000));
    expect(combineLimits(affinityCpus(), found!.quota)).toBeLessThanOrEqual(affinityCpus());
  });

  it('gives the read-only root a writable /tmp, where the control socket for `gserve status` lives', () => {
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
    const mount = container.volumeMounts.find((m: Obj) => m.mountPath === '/tmp');
    const volume = pod.volumes.find((v: Obj) => v.name === mount.name);
    expect(volume.emptyDir).toBeDefined();
  });

  it('routes the Service to the pods and scales the Deployment with the autoscaler', () => {
    const service = byKind('Service');
    const hpa = byKind('HorizontalPodAutoscaler');
    const labels = deployment.spec.template.metadata.labels;
    for (const [k, v] of Object.entries(service.spec.selector)) expect(labels[k]).toBe(v);
    for (const [k, v] of Object.entries(deployment.spec.selector.matchLabels)) expect(labels[k]).toBe(v);
    expect(container.ports.map((p: Obj) => p.name)).toContain(service.spec.ports[0].targetPort);
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec.scaleTargetRef).toEqual({
      apiVersion: deployment.apiVersion,
      kind: 'Deployment',
      name: deployment.metadata.name,
    });
    expect(hpa.spec.minReplicas).toBeLessThanOrEqual(hpa.spec.maxReplicas);
    expect(hpa.spec.metrics[0].resource.name).toBe('cpu');
  });
});

// ---- docker compose -----------------------------------------------------------------------------

describe('docker compose example', () => {
  const compose = yaml.load(read('examples/deploy/compose/compose.yaml')) as Obj;
  const app = compose.services.app;

  it('runs gserve under an init, with settings it accepts and a stop grace period above its drain time', async () => {
    expect(app.init).toBe(true);
    expect(app.stop_signal).toBe('SIGTERM');
    const { values } = await printConfig([], app.environment);
    expect(seconds(app.stop_grace_period)).toBeGreaterThan(
      (values.gracefulTimeout as number) + (values.shutdownDelay as number),
    );
    expect(app.healthcheck.test.join(' ')).toContain(`:8000${values.healthPath}`);
    expect(values.bind).toEqual(['0.0.0.0:8000']);
    expect(values.forwardedAllowIps).toEqual(['*']);
    expect(app.ports).toBeUndefined(); // only nginx reaches the app, which is what makes '*' safe
    expect(app.deploy.resources.limits.cpus).toBeDefined();
    expect(app.environment.GSERVE_WORKERS).toBe('auto');
    expect(existsSync(join(DEPLOY, 'compose', app.build.context, 'Dockerfile'))).toBe(true);
    expect(read('examples/deploy/compose/nginx.conf')).toContain('server app:8000;');
  });
});

// ---- systemd ------------------------------------------------------------------------------------

/** A unit file in the shape section -> key -> values (a key may repeat). */
function parseUnit(text: string): Record<string, Record<string, string[]>> {
  const out: Record<string, Record<string, string[]>> = {};
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) {
      section = s[1]!;
      out[section] = {};
      continue;
    }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (!kv || !section) throw new Error(`bad unit line: ${line}`);
    (out[section]![kv[1]!] ??= []).push(kv[2]!);
  }
  return out;
}

describe('systemd units', () => {
  const socket = parseUnit(readFileSync(join(DEPLOY, 'systemd/gserve.socket'), 'utf8'));
  const service = parseUnit(readFileSync(join(DEPLOY, 'systemd/gserve.service'), 'utf8'));

  it('pass the activated socket to gserve, which accepts the command line, stops within TimeoutStopSec', async () => {
    expect(socket.Socket!.ListenStream).toEqual(['/run/gserve/gserve.sock']);
    expect(service.Unit!.Requires).toEqual(['gserve.socket']);
    const [exec, ...args] = service.Service!.ExecStart![0]!.split(' ');
    expect(exec).toMatch(/\/gserve$/);
    // The activated socket replaces --bind: a --bind here would only mislead.
    expect(args.some((a) => a.startsWith('--bind') || a === '-b')).toBe(false);
    const { values } = await printConfig(
      args.filter((a) => a !== 'app:app'),
      {},
    );
    expect(seconds(service.Service!.TimeoutStopSec![0]!)).toBeGreaterThan(
      (values.gracefulTimeout as number) + (values.shutdownDelay as number),
    );
    expect(service.Service!.KillMode).toEqual(['mixed']);
    expect(service.Service!.ExecReload![0]).toContain('HUP');
  });
});
