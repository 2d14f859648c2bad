import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { request } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { HEAP_FLAGS } from '../../src/cluster/heap-flags.js';
import { createTestDatabase, dropTestDatabase } from '../utils/database.js';
import { parseExposition, valueOf, type Sample } from '../utils/prometheus.js';
import {
  HIGH_LIMITS,
  basicAuth,
  eventually,
  freePort,
  tokenRequest,
  type TestClient,
} from '../utils/test-app.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = join(ROOT, 'dist/src/cli.js');
const SERVER = join(ROOT, 'dist/src/main.js');

/** Cluster mode (WORKERS=2) of the built server: rolling restart and cross-worker revocation. */
describe('cluster mode', () => {
  let databaseName = '';
  let primary: ChildProcess | undefined;
  let baseUrl = '';
  let admin: TestClient;
  let output = '';
  let metricsUrl = '';

  /** PIDs of the primary's worker processes. */
  function workers(): number[] {
    const pid = primary?.pid;
    if (pid === undefined) return [];
    const found: number[] = [];
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      for (const child of text.split(/\s+/).filter(Boolean)) found.push(Number(child));
    }
    return found.sort((a, b) => a - b);
  }

  function adminToken(): Promise<Response> {
    return tokenRequest(baseUrl, admin, {
      grant_type: 'client_credentials',
      scope: 'admin',
      resource: `${baseUrl}/admin`,
    });
  }

  /** A form POST on a new connection of its own, so the primary may hand it to any worker. */
  function postOnNewConnection(
    path: string,
    body: string,
  ): Promise<{ status: number; json: unknown }> {
    return new Promise((resolvePost, reject) => {
      const req = request(
        `${baseUrl}${path}`,
        {
          method: 'POST',
          agent: false,
          headers: {
            authorization: basicAuth(admin),
            'content-type': 'application/x-www-form-urlencoded',
            connection: 'close',
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () =>
            resolvePost({
              status: res.statusCode ?? 0,
              json: text === '' ? null : JSON.parse(text),
            }),
          );
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  beforeAll(async () => {
    const database = await createTestDatabase();
    databaseName = database.name;
    const port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
    const metricsPort = await freePort();
    metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    const env = {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: database.url,
      MASTER_KEY: randomBytes(32).toString('hex'),
      ISSUER: baseUrl,
      HOST: '127.0.0.1',
      PORT: String(port),
      WORKERS: '2',
      METRICS_PORT: String(metricsPort),
      LOG_LEVEL: 'warn',
      ...HIGH_LIMITS,
    };
    const run = promisify(execFile);
    await run(process.execPath, [CLI, 'migrate'], { cwd: ROOT, env });
    const { stdout } = await run(process.execPath, [CLI, 'bootstrap', '--json'], {
      cwd: ROOT,
      env,
    });
    admin = JSON.parse(stdout) as TestClient;

    primary = spawn(process.execPath, [SERVER], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    primary.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    primary.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const ready = await eventually(async () => {
      if (workers().length !== 2) return false;
      const response = await fetch(`${baseUrl}/health/ready`).catch(() => null);
      return response?.ok === true;
    }, 20_000);
    if (!ready) throw new Error(`the cluster did not start:\n${output}`);
  }, 40_000);

  afterAll(async () => {
    const pids = workers();
    for (const pid of [primary?.pid, ...pids]) {
      if (pid === undefined) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (databaseName) await dropTestDatabase(databaseName);
  }, 30_000);

  it('runs its workers with the V8 heap settings, though the primary was started without them', () => {
    const pids = workers();
    expect(pids).toHaveLength(2);
    for (const pid of pids) {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      expect(args).toEqual(expect.arrayContaining([...HEAP_FLAGS]));
    }
  });

  it("serves the sum of every worker's metrics on METRICS_PORT", async () => {
    const issued = (samples: Sample[]) =>
      valueOf(samples, 'latchkey_tokens_issued_total', {
        grant_type: 'client_credentials',
        client_type: 'service_account',
      });
    const scrape = async (url: string) => {
      const response = await fetch(url);
      expect(response.status).toBe(200);
      return parseExposition(await response.text());
    };
    const before = issued(await scrape(metricsUrl));

    // New connections: the primary hands them to the workers in turn.
    const body = new URLSearchParams({
      grant_type: 'client_credentials',
      scope: 'admin',
      resource: `${baseUrl}/admin`,
    }).toString();
    for (let i = 0; i < 8; i++) {
      expect((await postOnNewConnection('/oauth/token', body)).status).toBe(200);
    }

    const total = issued(await scrape(metricsUrl));
    expect(total - before).toBe(8);
    // The service port's /metrics is the one worker that answered: only part of the sum. A
    // worker still starting gets no connections yet, so the first few may all have gone to the
    // other: more tokens until both have served some.
    let sum = total;
    const split = await eventually(async () => {
      const oneWorker = issued(await scrape(`${baseUrl}/metrics`));
      if (oneWorker > 0 && oneWorker < sum) return true;
      expect((await postOnNewConnection('/oauth/token', body)).status).toBe(200);
      sum += 1;
      return false;
    }, 10_000);
    expect(split).toBe(true);
    expect(issued(await scrape(metricsUrl))).toBe(sum);
  }, 30_000);

  it('replaces every worker on SIGUSR2 without failing a request', async () => {
    const before = workers();
    expect(before).toHaveLength(2);
    const failures: string[] = [];
    let succeeded = 0;
    let running = true;
    const trickle = async (): Promise<void> => {
      while (running) {
        try {
          const response = await adminToken();
          await response.arrayBuffer();
          if (response.status === 200) succeeded++;
          else failures.push(`status ${response.status}`);
        } catch (err) {
          failures.push(String(err));
        }
        await new Promise((resolveWait) => setTimeout(resolveWait, 10));
      }
    };
    const loops = [trickle(), trickle(), trickle()];

    const pid = primary?.pid;
    if (pid === undefined) throw new Error('the server is not running');
    process.kill(pid, 'SIGUSR2');
    // Two workers start one after the other, each booting the whole app: slow on a busy machine.
    const replaced = await eventually(() => {
      const now = workers();
      return Promise.resolve(now.length === 2 && now.every((pid) => !before.includes(pid)));
    }, 45_000);
    const afterRestart = succeeded;
    await new Promise((resolveWait) => setTimeout(resolveWait, 300));
    running = false;
    await Promise.all(loops);

    expect({ replaced, failures }).toEqual({ replaced: true, failures: [] });
    expect(succeeded).toBeGreaterThan(afterRestart);
    expect(output).not.toContain('worker exited');
  }, 60_000);

  it('honours a revocation on every worker', async () => {
    const issued = await adminToken();
    const { access_token: accessToken } = (await issued.json()) as { access_token: string };
    const introspect = (): Promise<{ status: number; json: unknown }> =>
      postOnNewConnection(
        '/oauth/introspect',
        new URLSearchParams({ token: accessToken }).toString(),
      );
    const beforeRevocation = await Promise.all(Array.from({ length: 6 }, introspect));
    expect(beforeRevocation.map((r) => (r.json as { active: boolean }).active)).toEqual(
      Array(6).fill(true),
    );

    const revoked = await postOnNewConnection(
      '/oauth/revoke',
      new URLSearchParams({ token: accessToken }).toString(),
    );
    expect(revoked.status).toBe(200);

    // NOTIFY reaches the other worker a moment later: wait for it, then ask every worker again.
    const honoured = await eventually(async () => {
      const answers = await Promise.all(Array.from({ length: 10 }, introspect));
      return answers.every(
        (r) => r.status === 200 && (r.json as { active: boolean }).active === false,
      );
    }, 5_000);
    expect(honoured).toBe(true);
  }, 20_000);
});
