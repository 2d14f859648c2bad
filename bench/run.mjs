// Load test of the hot paths, on loopback only: token issuance (client_credentials),
// introspection, discovery and JWKS. It creates its own PostgreSQL database, runs the built
// server as a child process, and removes both when it ends, also on error or CTRL-C.
//
//   npm run bench
//
// Settings (environment): BENCH_SECONDS (10), BENCH_CONNECTIONS (64), BENCH_WARMUP_SECONDS (2),
// BENCH_WORKERS (1; passed to the server as WORKERS), TEST_DATABASE_ADMIN_URL
// (postgres://postgres@127.0.0.1:5432/postgres).
import autocannon from 'autocannon';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const HOST = '127.0.0.1';
const SECONDS = positiveInt('BENCH_SECONDS', 10);
const CONNECTIONS = positiveInt('BENCH_CONNECTIONS', 64);
const WARMUP_SECONDS = positiveInt('BENCH_WARMUP_SECONDS', 2);
const WORKERS = process.env.BENCH_WORKERS ?? '1';
const ADMIN_URL =
  process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const READY_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 5_000;
const CLOCK_TICKS = clockTicks();

const state = { database: null, server: null, cannon: null, cleaning: null };

function positiveInt(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
  return value;
}

function clockTicks() {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}

function log(message) {
  process.stderr.write(`bench: ${message}\n`);
}

// ---------------------------------------------------------------------------------------------
// Database

function databaseUrl(name) {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

async function withAdminClient(body) {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    return await body(client);
  } finally {
    await client.end();
  }
}

async function createDatabase() {
  const name = `latchkey_bench_${randomBytes(6).toString('hex')}`;
  await withAdminClient((client) => client.query(`CREATE DATABASE ${name}`));
  state.database = name;
  return name;
}

async function dropDatabase() {
  const name = state.database;
  if (!name || !/^latchkey_bench_[0-9a-f]+$/.test(name)) return;
  await withAdminClient((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  state.database = null;
  log(`dropped database ${name}`);
}

// ---------------------------------------------------------------------------------------------
// Server child process

function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

/** The environment for the CLI and the server: only what they need, no inherited settings. */
function serverEnv(extra) {
  const keep = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ'];
  const env = Object.fromEntries(
    keep.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]]),
  );
  return { ...env, NODE_ENV: 'production', LOG_LEVEL: 'warn', ...extra };
}

async function cli(env, args) {
  const { stdout } = await promisify(execFile)(process.execPath, ['dist/src/cli.js', ...args], {
    cwd: ROOT,
    env,
    maxBuffer: 1 << 20,
  });
  return stdout;
}

function startServer(env) {
  const child = spawn(process.execPath, ['dist/src/main.js'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((resolveExit) =>
    child.once('exit', (code, signal) => resolveExit({ code, signal })),
  );
  const relay = (stream) => {
    let buffered = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop();
      for (const line of lines) if (line.trim()) process.stderr.write(`[server] ${line}\n`);
    });
  };
  relay(child.stdout);
  relay(child.stderr);
  state.server = { child, exited };
  return state.server;
}

async function waitUntilReady(baseUrl, server) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let exited = null;
  void server.exited.then((info) => (exited = info));
  while (Date.now() < deadline) {
    if (exited)
      throw new Error(`the server exited before it was ready (${JSON.stringify(exited)})`);
    try {
      const response = await fetch(`${baseUrl}/health/ready`, {
        signal: AbortSignal.timeout(2000),
      });
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(200);
  }
  throw new Error(`the server was not ready within ${READY_TIMEOUT_MS / 1000} s`);
}

async function stopServer() {
  const server = state.server;
  if (!server) return;
  state.server = null;
  const pid = server.child.pid;
  const tree = processTree(pid);
  const signal = (sig, pids) => {
    for (const p of pids) {
      try {
        process.kill(p, sig);
      } catch {
        // already gone
      }
    }
  };
  if (server.child.exitCode === null && server.child.signalCode === null) {
    signal('SIGTERM', [pid]);
    const done = await Promise.race([server.exited, sleep(STOP_GRACE_MS).then(() => null)]);
    if (done === null) {
      log('the server did not stop within 5 s: sending SIGKILL');
      signal('SIGKILL', [pid]);
      await server.exited;
    }
  }
  // Cluster workers leave with their primary; make sure none of the ones it had is left.
  await sleep(200);
  signal(
    'SIGKILL',
    tree.filter((p) => p !== pid && isAlive(p)),
  );
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// CPU accounting from /proc: utime + stime of the server and all its descendants, in ms.

function childPids(pid) {
  const found = new Set();
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      for (const child of text.split(/\s+/).filter(Boolean)) found.add(Number(child));
    }
    return [...found];
  } catch {
    // No /proc/<pid>/task/*/children on this kernel: ask ps.
  }
  try {
    const out = execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' });
    return out.split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function processTree(root) {
  const all = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift();
    all.push(pid);
    queue.push(...childPids(pid));
  }
  return all;
}

function cpuTicks(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
  } catch {
    return 0;
  }
}

function treeCpuMs(root) {
  const ticks = processTree(root).reduce((sum, pid) => sum + cpuTicks(pid), 0);
  return (ticks * 1000) / CLOCK_TICKS;
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers for the setup

function basic(id, secret) {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

async function token(baseUrl, client, params) {
  const response = await fetch(`${baseUrl}/oauth/token`, {
    method: 'POST',
    headers: {
      Authorization: basic(client.client_id, client.client_secret),
      'Content-Type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams(params).toString(),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(`token request failed: ${response.status} ${body.error ?? ''}`);
  return body.access_token;
}

async function createServiceClient(baseUrl, adminToken) {
  const response = await fetch(`${baseUrl}/admin/clients`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${adminToken}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({
      client_name: 'bench service',
      grant_types: ['client_credentials'],
      allowed_scopes: ['reports:read'],
    }),
  });
  const body = await response.json();
  if (response.status !== 201)
    throw new Error(`creating the client failed: ${response.status} ${body.code ?? ''}`);
  return { client_id: body.client_id, client_secret: body.client_secret };
}

// ---------------------------------------------------------------------------------------------
// Load

function cannon(options) {
  if (state.cleaning) throw new Error('interrupted');
  const instance = autocannon({ connections: CONNECTIONS, timeout: 10, ...options });
  state.cannon = instance;
  return instance.then(
    (result) => {
      state.cannon = null;
      return result;
    },
    (err) => {
      state.cannon = null;
      throw err;
    },
  );
}

async function scenario(name, options, serverPid) {
  log(`${name}: warm-up ${WARMUP_SECONDS} s`);
  await cannon({ ...options, duration: WARMUP_SECONDS });
  log(`${name}: ${SECONDS} s with ${CONNECTIONS} connections`);
  const cpuBefore = treeCpuMs(serverPid);
  const result = await cannon({ ...options, duration: SECONDS });
  const cpuAfter = treeCpuMs(serverPid);
  const completed = result.requests.total;
  const row = {
    name,
    requestsPerSecond: completed / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
    cpuMsPerRequest: completed > 0 ? (cpuAfter - cpuBefore) / completed : NaN,
    completed,
  };
  log(
    `${name}: ${row.requestsPerSecond.toFixed(0)} req/s, p50 ${row.p50} ms, p99 ${row.p99} ms, ` +
      `non-2xx ${row.non2xx}, errors ${row.errors}, server CPU ${row.cpuMsPerRequest.toFixed(3)} ms/req`,
  );
  return row;
}

function table(rows) {
  const lines = [
    '| scenario | req/s | p50 ms | p99 ms | non-2xx | errors | server CPU ms/req |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.name} | ${r.requestsPerSecond.toFixed(0)} | ${r.p50} | ${r.p99} | ${r.non2xx} | ${r.errors} | ${r.cpuMsPerRequest.toFixed(3)} |`,
    );
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const name = await createDatabase();
  log(`created database ${name}`);
  const port = await freePort();
  const baseUrl = `http://${HOST}:${port}`;
  const env = serverEnv({
    DATABASE_URL: databaseUrl(name),
    MASTER_KEY: randomBytes(32).toString('hex'),
    PORT: String(port),
    HOST,
    ISSUER: baseUrl,
    WORKERS,
  });

  await cli(env, ['migrate']);
  // The bootstrap output holds the admin secret: parse it, never print it.
  const admin = JSON.parse((await cli(env, ['bootstrap', '--json'])).trim());
  if (!admin.client_secret) throw new Error('bootstrap returned no admin secret');

  const server = startServer(env);
  log(`server pid ${server.child.pid} on ${baseUrl}, WORKERS=${WORKERS}`);
  await waitUntilReady(baseUrl, server);

  const adminToken = await token(baseUrl, admin, {
    grant_type: 'client_credentials',
    scope: 'admin',
    resource: `${baseUrl}/admin`,
  });
  const service = await createServiceClient(baseUrl, adminToken);
  const serviceAuth = basic(service.client_id, service.client_secret);
  const accessToken = await token(baseUrl, service, {
    grant_type: 'client_credentials',
    scope: 'reports:read',
  });
  const form = { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: serviceAuth };

  const pid = server.child.pid;
  const rows = [];
  rows.push(
    await scenario(
      'token (client_credentials)',
      {
        url: `${baseUrl}/oauth/token`,
        method: 'POST',
        headers: form,
        body: 'grant_type=client_credentials&scope=reports%3Aread',
      },
      pid,
    ),
  );
  rows.push(
    await scenario(
      'introspect (JWT)',
      {
        url: `${baseUrl}/oauth/introspect`,
        method: 'POST',
        headers: form,
        body: new URLSearchParams({ token: accessToken }).toString(),
      },
      pid,
    ),
  );
  rows.push(
    await scenario('discovery', { url: `${baseUrl}/.well-known/openid-configuration` }, pid),
  );
  rows.push(await scenario('JWKS', { url: `${baseUrl}/.well-known/jwks.json` }, pid));

  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  process.stdout.write(
    [
      '',
      table(rows),
      '',
      `Machine: ${cpu}, ${os.availableParallelism()} cores, Node ${process.version}, ${os.type()} ${os.release()}`,
      `Run: ${new Date().toISOString()}, ${SECONDS} s per scenario after ${WARMUP_SECONDS} s warm-up, ` +
        `${CONNECTIONS} connections, WORKERS=${WORKERS}, PostgreSQL on loopback. ` +
        'Load generator and server share the machine; server CPU is utime+stime of the server process tree.',
      '',
    ].join('\n'),
  );
  return rows.some((r) => r.completed === 0) ? 1 : 0;
}

function cleanup() {
  state.cleaning ??= (async () => {
    state.cannon?.stop();
    try {
      await stopServer();
    } catch (err) {
      log(`stopping the server failed: ${err.message}`);
    }
    try {
      await dropDatabase();
    } catch (err) {
      log(`dropping database ${state.database} failed: ${err.message}`);
    }
  })();
  return state.cleaning;
}

function sleep(ms) {
  return new Promise((resolveSleep) => setTimeout(resolveSleep, ms));
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    log(`${sig}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (err) {
  log(`failed: ${err.message}`);
} finally {
  await cleanup();
}
process.exit(exitCode);
