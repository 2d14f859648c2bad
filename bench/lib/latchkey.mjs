// Running Latchkey for a benchmark: its environment, the CLI, and the setup requests.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { HEAP_FLAGS } from '../../dist/src/cluster/heap-flags.js';
import { ROOT, basic } from './util.mjs';

/** The server's command line, with the V8 heap settings it runs with in production. */
export function serverArgs(nodeFlags = []) {
  return [...nodeFlags, ...HEAP_FLAGS, 'dist/src/main.js'];
}

/** The environment for the CLI and the server: only what they need, no inherited settings. */
export function serverEnv(extra) {
  const keep = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ'];
  const env = Object.fromEntries(
    keep.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]]),
  );
  return { ...env, NODE_ENV: 'production', LOG_LEVEL: 'warn', ...extra };
}

export async function cli(env, args) {
  const { stdout } = await promisify(execFile)(process.execPath, ['dist/src/cli.js', ...args], {
    cwd: ROOT,
    env,
    maxBuffer: 1 << 20,
  });
  return stdout;
}

/** The token endpoint's JSON answer to a request by `client` (HTTP Basic); throws unless 200. */
export async function tokenResponse(tokenUrl, client, params) {
  const response = await fetch(tokenUrl, {
    method: 'POST',
    headers: {
      Authorization: basic(client.client_id, client.client_secret),
      'Content-Type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams(params).toString(),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(`token request failed: ${response.status} ${body.error ?? ''}`);
  return body;
}

export async function token(baseUrl, client, params) {
  return (await tokenResponse(`${baseUrl}/oauth/token`, client, params)).access_token;
}

/** POST /admin/clients; returns the new client's id and secret. */
export async function createClient(baseUrl, adminToken, body) {
  const response = await fetch(`${baseUrl}/admin/clients`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${adminToken}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const created = await response.json();
  if (response.status !== 201)
    throw new Error(`creating the client failed: ${response.status} ${created.code ?? ''}`);
  return { client_id: created.client_id, client_secret: created.client_secret };
}

export function createServiceClient(baseUrl, adminToken) {
  return createClient(baseUrl, adminToken, {
    client_name: 'bench service',
    grant_types: ['client_credentials'],
    allowed_scopes: ['reports:read'],
  });
}
