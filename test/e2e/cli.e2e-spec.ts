import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { MIGRATIONS } from '../../src/database/migrations.js';
import { createTestDatabase, dropTestDatabase } from '../utils/database.js';
import { freePort, tokenRequest } from '../utils/test-app.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = join(ROOT, 'dist/src/cli.js');
const SERVER = join(ROOT, 'dist/src/main.js');
const CLIENT_SECRET = /^lk_cs_[A-Za-z0-9_-]{43}$/;
const MIGRATION_NAMES = MIGRATIONS.map((migration) => new migration().name);
const ISSUER = 'http://127.0.0.1:4999';

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Every child this file starts, so afterAll can stop any that a failed test left running. */
const children = new Set<ChildProcess>();

function start(script: string, args: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [script, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Output of a running child, as it arrives. */
function capture(child: ChildProcess): { stdout: () => string; stderr: () => string } {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  return { stdout: () => stdout, stderr: () => stderr };
}

/** Kills, by PID, any child of this file still running (a test failed before stopping it). */
function stopAll(): void {
  for (const child of children) {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) continue;
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // it exited in the meantime
    }
  }
}

function exited(
  child: ChildProcess,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolvePromise) =>
    child.once('exit', (code, signal) => resolvePromise({ code, signal })),
  );
}

async function runCli(args: string[], env: Record<string, string>): Promise<Finished> {
  const child = start(CLI, args, env);
  const output = capture(child);
  const { code, signal } = await exited(child);
  return { code, signal, stdout: output.stdout(), stderr: output.stderr() };
}

/** Output for an assertion message, with every secret blanked out. */
function redacted(text: string): string {
  return text.replace(/lk_[a-z]+_[A-Za-z0-9_-]+/g, 'lk_…_[redacted]');
}

function sha256Base64url(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}

async function query<T>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}

async function tableCount(url: string): Promise<number> {
  const rows = await query<{ n: number }>(
    url,
    `SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public'`,
  );
  return rows[0].n;
}

describe('the CLI', () => {
  const databases: string[] = [];

  beforeAll(() => {
    if (!existsSync(CLI) || !existsSync(SERVER)) {
      throw new Error('dist/ is missing: run `npm run build` before this test');
    }
  });

  afterAll(async () => {
    stopAll();
    await Promise.all(databases.map((name) => dropTestDatabase(name)));
  }, 60_000);

  /** A fresh database and the environment the CLI needs for it. */
  async function freshEnvironment(): Promise<{ url: string; env: Record<string, string> }> {
    const database = await createTestDatabase();
    databases.push(database.name);
    return {
      url: database.url,
      env: {
        DATABASE_URL: database.url,
        MASTER_KEY: randomBytes(32).toString('hex'),
        ISSUER,
      },
    };
  }

  it('migrate applies every migration once, and reports it', async () => {
    const { url, env } = await freshEnvironment();

    const first = await runCli(['migrate'], env);

    expect({ code: first.code, stderr: redacted(first.stderr) }).toEqual({ code: 0, stderr: '' });
    expect(first.stdout).toBe(`applied: ${MIGRATION_NAMES.join(', ')}\n`);
    const applied = await query<{ name: string }>(url, `SELECT name FROM migrations ORDER BY id`);
    expect(applied.map((row) => row.name)).toEqual(MIGRATION_NAMES);

    const second = await runCli(['migrate'], env);

    expect(second.code).toBe(0);
    expect(second.stdout).toBe('database is up to date\n');
  }, 60_000);

  it('bootstrap --json creates the admin client once, and rotates its secret on request', async () => {
    const { url, env } = await freshEnvironment();
    const adminRow = async () =>
      query<{ secret_hash: string; service_roles: string[]; allowed_scopes: string[] }>(
        url,
        `SELECT secret_hash, service_roles, allowed_scopes FROM clients WHERE id = $1`,
        ['latchkey-admin'],
      );

    const first = await runCli(['bootstrap', '--json'], env);

    expect({ code: first.code, stderr: redacted(first.stderr) }).toEqual({ code: 0, stderr: '' });
    expect(first.stdout.endsWith('\n')).toBe(true);
    expect(first.stdout.trimEnd().split('\n')).toHaveLength(1);
    const created = JSON.parse(first.stdout) as Record<string, unknown>;
    expect(Object.keys(created).sort()).toEqual([
      'client_id',
      'client_secret',
      'issuer',
      'setup_url',
    ]);
    expect(created).toMatchObject({ issuer: ISSUER, client_id: 'latchkey-admin' });
    // Once passkey enrollment exists, the first run also creates the first admin user and
    // prints its one-time setup link; before that, setup_url is null.
    if (created.setup_url !== null) {
      expect(created.setup_url).toMatch(new RegExp(`^${ISSUER}/setup/lk_st_[A-Za-z0-9_-]{43}$`));
    }
    expect(created.client_secret).toMatch(CLIENT_SECRET);
    const secret = created.client_secret as string;
    const [row] = await adminRow();
    expect(row).toEqual({
      secret_hash: sha256Base64url(secret),
      service_roles: ['admin'],
      allowed_scopes: ['admin'],
    });

    const again = await runCli(['bootstrap', '--json'], env);

    expect(again.code).toBe(0);
    expect(again.stdout.trimEnd().split('\n')).toHaveLength(1);
    expect(JSON.parse(again.stdout)).toEqual({
      issuer: ISSUER,
      client_id: 'latchkey-admin',
      client_secret: null,
      setup_url: null,
    });
    expect(await query(url, `SELECT id FROM clients`)).toEqual([{ id: 'latchkey-admin' }]);
    expect((await adminRow())[0].secret_hash).toBe(sha256Base64url(secret));

    const rotated = await runCli(['bootstrap', '--json', '--rotate-secret'], env);

    expect(rotated.code).toBe(0);
    expect(rotated.stdout.trimEnd().split('\n')).toHaveLength(1);
    const renewed = JSON.parse(rotated.stdout) as Record<string, unknown>;
    expect(renewed.client_secret).toMatch(CLIENT_SECRET);
    expect(renewed.client_secret).not.toBe(secret);
    expect((await adminRow())[0].secret_hash).toBe(
      sha256Base64url(renewed.client_secret as string),
    );
    expect(await query(url, `SELECT id FROM clients`)).toEqual([{ id: 'latchkey-admin' }]);
  }, 60_000);

  it('bootstrap without --json prints the human summary', async () => {
    const { env } = await freshEnvironment();

    const result = await runCli(['bootstrap'], env);

    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Latchkey is ready.');
    expect(result.stdout).toContain(`Issuer:               ${ISSUER}`);
    expect(result.stdout).toMatch(/Admin client secret: {2}lk_cs_[A-Za-z0-9_-]{43}\n/);
  }, 60_000);

  it('keys rotate prints the new pending keys as JSON', async () => {
    const { url, env } = await freshEnvironment();

    // LOG_LEVEL makes the CLI log: the lines must go to stderr, never into the JSON on stdout.
    const result = await runCli(['keys', 'rotate'], { ...env, LOG_LEVEL: 'info' });

    expect(result.code).toBe(0);
    const output = JSON.parse(result.stdout) as { rotated: Record<string, unknown>[] };
    expect(Object.keys(output)).toEqual(['rotated']);
    expect(output.rotated).toHaveLength(2);
    expect(output.rotated.map((key) => key.use).sort()).toEqual(['access_token', 'id_token']);
    for (const key of output.rotated) {
      expect(key.state).toBe('pending');
      expect(typeof key.kid).toBe('string');
      expect(Date.parse(key.activateAt as string)).toBeGreaterThan(Date.now());
    }
    expect(result.stderr).toContain('signing keys rotated in as pending');
    const rows = await query<{ kid: string; state: string }>(
      url,
      `SELECT kid, state FROM signing_keys ORDER BY created_at`,
    );
    const rotatedKids = output.rotated.map((key) => key.kid);
    expect(rows.filter((row) => rotatedKids.includes(row.kid)).map((row) => row.state)).toEqual([
      'pending',
      'pending',
    ]);
    expect(rows.filter((row) => row.state === 'active')).toHaveLength(2);
  }, 60_000);

  it('cleanup deletes expired rows once and prints the counts as JSON', async () => {
    const { url, env } = await freshEnvironment();
    expect((await runCli(['migrate'], env)).code).toBe(0);
    await query(
      url,
      `INSERT INTO revoked_jtis (jti, expires_at) VALUES
         ('expired', now() - interval '1 day'), ('live', now() + interval '1 hour')`,
    );

    const result = await runCli(['cleanup'], { ...env, LOG_LEVEL: 'info' });

    expect(result.code).toBe(0);
    const output = JSON.parse(result.stdout) as { status: string; removed: Record<string, number> };
    expect(output.status).toBe('done');
    expect(output.removed).toMatchObject({ revoked_jtis: 1, sessions: 0, token_families: 0 });
    const rows = await query<{ jti: string }>(url, `SELECT jti FROM revoked_jtis`);
    expect(rows).toEqual([{ jti: 'live' }]);
  }, 60_000);

  it.each([
    ['an unknown command', ['frobnicate']],
    ['no command', []],
    ['keys without rotate', ['keys']],
    ['keys rotate with extra words', ['keys', 'rotate', 'now']],
    ['cleanup with extra words', ['cleanup', 'now']],
    ['an unknown bootstrap option', ['bootstrap', '--force']],
  ])(
    'answers %s with exit code 2 and the usage, and touches nothing',
    async (_label, args) => {
      const { url, env } = await freshEnvironment();

      const result = await runCli(args, env);

      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain('usage: npm run cli -- <command>');
      expect(result.stderr).toContain('bootstrap');
      expect(await tableCount(url)).toBe(0);
    },
    60_000,
  );

  it('stops on a bad setting with exit code 1, names it, and touches nothing', async () => {
    const { url, env } = await freshEnvironment();

    const result = await runCli(['bootstrap', '--json'], { ...env, PORT: 'abc' });

    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^latchkey: invalid configuration: .*\bPORT\b/);
    expect(await tableCount(url)).toBe(0);
  }, 60_000);
});

describe('the server in embedded mode', () => {
  let dataDir: string;

  beforeAll(() => {
    if (!existsSync(SERVER)) throw new Error('dist/ is missing: run `npm run build` first');
    dataDir = mkdtempSync(join(tmpdir(), 'latchkey-embedded-'));
  });

  afterAll(() => {
    stopAll();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** Starts the server and waits (at most 60 s) until it listens. */
  async function startServer(port: number) {
    const child = start(SERVER, [], {
      DATA_DIR: dataDir,
      PORT: String(port),
      HOST: '127.0.0.1',
      ISSUER: `http://127.0.0.1:${port}`,
      LOG_LEVEL: 'info',
    });
    const output = capture(child);
    const deadline = Date.now() + 60_000;
    while (!output.stdout().includes('latchkey is listening')) {
      if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
        throw new Error(
          `the server did not start (exit ${child.exitCode}):\n${redacted(output.stderr())}`,
        );
      }
      await new Promise((resolvePromise) => setTimeout(resolvePromise, 100));
    }
    return { child, output };
  }

  async function stopServer(child: ChildProcess) {
    const done = exited(child);
    process.kill(child.pid as number, 'SIGTERM');
    return done;
  }

  it('bootstraps once, serves tokens, shuts down cleanly, and keeps its data', async () => {
    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}`;

    const first = await startServer(port);

    const stdout = first.output.stdout();
    expect(stdout).toContain('Admin client secret:');
    const secret = /Admin client secret: +(lk_cs_[A-Za-z0-9_-]{43})\n/.exec(stdout)?.[1];
    expect(secret).toBeDefined();
    // Secrets are for the terminal only: no structured log line carries one.
    const logLines = stdout.split('\n').filter((line) => line.startsWith('{'));
    expect(logLines.length).toBeGreaterThan(0);
    expect(logLines.filter((line) => /lk_[a-z]+_[A-Za-z0-9_-]{20,}/.test(line))).toEqual([]);
    // Without MASTER_KEY, outside production, a key is generated into DATA_DIR, owner-only.
    expect(statSync(join(dataDir, 'master.key')).mode & 0o777).toBe(0o600);

    const admin = { client_id: 'latchkey-admin', client_secret: secret as string };
    const issued = await tokenRequest(baseUrl, admin, {
      grant_type: 'client_credentials',
      scope: 'admin',
      resource: `${baseUrl}/admin`,
    });
    expect(issued.status).toBe(200);
    const { access_token: accessToken } = (await issued.json()) as { access_token: string };
    const listed = await fetch(`${baseUrl}/admin/clients`, {
      headers: { authorization: `Bearer ${accessToken}` },
    });
    expect(listed.status).toBe(200);
    const clients = ((await listed.json()) as { data: { client_id: string }[] }).data;
    expect(clients.map((client) => client.client_id)).toEqual(['latchkey-admin']);

    expect(await stopServer(first.child)).toEqual({ code: 0, signal: null });

    const second = await startServer(port);

    expect(second.output.stdout()).not.toContain('Admin client secret:');
    expect(second.output.stdout()).not.toContain('lk_cs_');
    const again = await tokenRequest(baseUrl, admin, {
      grant_type: 'client_credentials',
      scope: 'admin',
      resource: `${baseUrl}/admin`,
    });
    expect(again.status).toBe(200);
    await again.arrayBuffer();

    expect(await stopServer(second.child)).toEqual({ code: 0, signal: null });
  }, 150_000);
});
