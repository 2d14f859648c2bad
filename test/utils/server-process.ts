import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort, type TestClient } from './test-app.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SERVER = join(ROOT, 'dist/src/main.js');
const CLI = join(ROOT, 'dist/src/cli.js');

/** The built server (`node dist/src/main.js`) running as a child process of the test. */
export interface ServerProcess {
  name: string;
  /** http://127.0.0.1:<port>: where this process listens (not necessarily the issuer). */
  baseUrl: string;
  child: ChildProcess;
  /** Everything it wrote to stdout and stderr so far, for failure messages. */
  output(): string;
}

/** `count` distinct free loopback ports. */
export async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

/**
 * Runs `cli.js bootstrap --json` (which migrates first) and returns the admin client. Done once
 * before the servers start, so that several of them starting together find a ready database.
 */
export async function bootstrapDatabase(
  env: Record<string, string>,
): Promise<TestClient & { setup_url: string }> {
  if (!existsSync(CLI)) throw new Error('dist/ is missing: run `npm run build` first');
  const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'bootstrap', '--json'], {
    cwd: ROOT,
    env,
  });
  return JSON.parse(stdout) as TestClient & { setup_url: string };
}

/**
 * Starts the built server with exactly `env` (PORT and HOST included) and waits until
 * /health/ready answers 200. On failure the child is killed and its output is in the error.
 */
export async function startServerProcess(
  name: string,
  env: Record<string, string>,
  timeoutMs: number,
): Promise<ServerProcess> {
  if (!existsSync(SERVER)) throw new Error('dist/ is missing: run `npm run build` first');
  const baseUrl = `http://${env.HOST}:${env.PORT}`;
  const child = spawn(process.execPath, [SERVER], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const running: ServerProcess = { name, baseUrl, child, output: () => output };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}):\n${output}`);
    }
    const ready = await fetch(`${baseUrl}/health/ready`)
      .then(async (response) => {
        await response.arrayBuffer();
        return response.ok;
      })
      .catch(() => false);
    if (ready) return running;
    if (Date.now() > deadline) {
      await stopServerProcess(running);
      throw new Error(`${name} was not ready after ${timeoutMs} ms:\n${output}`);
    }
    await new Promise((done) => setTimeout(done, 100));
  }
}

/** SIGKILL by PID, and waits for the exit. */
export function stopServerProcess(server: ServerProcess): Promise<void> {
  const { child } = server;
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  process.kill(child.pid as number, 'SIGKILL');
  return exited;
}
