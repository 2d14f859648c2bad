import fc from 'fast-check';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import pg from 'pg';
import { createTestDatabase, dropTestDatabase } from './database.js';
import { startTestApp, type TestApp } from './test-app.js';

// ---------------------------------------------------------------------------------------------
// Run budget
// ---------------------------------------------------------------------------------------------

/**
 * Runs per property: `FUZZ_RUNS` (the long `npm run fuzz` sets it high), times `share` for the
 * cheaper or costlier properties. The default keeps the normal suite fast while still sending
 * thousands of requests over all fuzz specs.
 */
export function fuzzRuns(share = 1): number {
  const base = Number(process.env.FUZZ_RUNS ?? 40);
  return Math.max(1, Math.round((Number.isFinite(base) ? base : 40) * share));
}

/** A jest timeout that grows with the run budget (a long fuzz run must not time out). */
export function fuzzTimeout(share = 1): number {
  return Math.max(30_000, fuzzRuns(share) * 250);
}

/** The values an arbitrary generates (to type the `examples` of a property). */
export type Generated<A> = A extends fc.Arbitrary<infer T> ? T : never;

/** fast-check options: failures print the seed and path, so a run can be replayed. */
export function fuzzOptions<T>(share = 1, examples: T[] = []): fc.Parameters<T> {
  return {
    numRuns: fuzzRuns(share),
    examples,
    // Replays one failure: FUZZ_SEED and FUZZ_PATH as fast-check printed them.
    ...(process.env.FUZZ_SEED ? { seed: Number(process.env.FUZZ_SEED) } : {}),
    ...(process.env.FUZZ_PATH ? { path: process.env.FUZZ_PATH } : {}),
    ...(process.env.FUZZ_VERBOSE ? { verbose: 2 } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// An app on its own database, so that the snapshot sees only what the fuzzed requests did
// ---------------------------------------------------------------------------------------------

export interface FuzzApp {
  sut: TestApp;
  db: DatabaseWatch;
  close(): Promise<void>;
}

/**
 * Boots the real app on a database of its own: other e2e specs share the run's database and
 * write to it concurrently, which would make "nothing changed" unprovable there.
 */
export async function startFuzzApp(env: Record<string, string> = {}): Promise<FuzzApp> {
  const database = await createTestDatabase();
  let sut: TestApp;
  try {
    sut = await startTestApp({
      DATABASE_URL: database.url,
      // Rate limits and lockouts are tested elsewhere; here they would only hide the handlers
      // (a 429 in the right format is still accepted as a rejection).
      RATE_LIMIT_TOKEN_PER_MINUTE: '1000000',
      RATE_LIMIT_TOKEN_PER_CLIENT_PER_MINUTE: '1000000',
      RATE_LIMIT_AUTHORIZE_PER_MINUTE: '1000000',
      RATE_LIMIT_WEBAUTHN_PER_MINUTE: '1000000',
      RATE_LIMIT_REGISTRATION_PER_MINUTE: '1000000',
      CLIENT_AUTH_MAX_FAILURES: '100000',
      CLIENT_AUTH_MAX_FAILURES_PER_CLIENT: '1000000',
      PASSKEY_MAX_FAILURES: '100000',
      PASSKEY_MAX_FAILURES_PER_CREDENTIAL: '1000000',
      PASSKEY_MAX_FAILURES_PER_ADDRESS: '1000000',
      // Failed attempts are slowed down; fuzzing thousands of them must not wait for that.
      BRUTE_FORCE_MAX_DELAY_MS: '0',
      REGISTRATION_MODE: 'open',
      ...env,
    });
  } catch (err) {
    await dropTestDatabase(database.name);
    throw err;
  }
  const pool = new pg.Pool({ connectionString: database.url, max: 2 });
  return {
    sut,
    db: new DatabaseWatch(pool),
    async close() {
      await pool.end();
      await sut.close();
      await dropTestDatabase(database.name);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Database snapshots
// ---------------------------------------------------------------------------------------------

/**
 * What may change while a server rejects input, and why. Everything else must be identical,
 * row for row, before and after a property.
 */
const ALWAYS_EXCLUDED_TABLES = new Set([
  // Failed sign-ins, client authentications and token requests are audited by design.
  'audit_events',
  // The migration ledger is written at start only; listed so a late migration cannot flake.
  'migrations',
]);
const ALWAYS_EXCLUDED_COLUMNS: Record<string, ReadonlySet<string>> = {
  // Refreshed (batched) whenever a client authenticates, even if its request is then refused.
  clients: new Set(['last_used_at']),
};

export type DatabaseSnapshot = Record<string, { rows: number; digest: string }>;

export class DatabaseWatch {
  constructor(private readonly pool: pg.Pool) {}

  /**
   * Row count and an md5 over the sorted rows of every table in the public schema. `exclude`
   * lists more tables that the caller's requests legitimately change (say why at the call).
   */
  async snapshot(exclude: readonly string[] = []): Promise<DatabaseSnapshot> {
    const { rows: columns } = await this.pool.query<{ table_name: string; column_name: string }>(
      `SELECT c.table_name, c.column_name
         FROM information_schema.columns c
         JOIN information_schema.tables t
           ON t.table_schema = c.table_schema AND t.table_name = c.table_name
        WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
        ORDER BY c.table_name, c.ordinal_position`,
    );
    const byTable = new Map<string, string[]>();
    for (const { table_name: table, column_name: column } of columns) {
      if (ALWAYS_EXCLUDED_TABLES.has(table) || exclude.includes(table)) continue;
      if (ALWAYS_EXCLUDED_COLUMNS[table]?.has(column)) continue;
      const list = byTable.get(table) ?? [];
      list.push(column);
      byTable.set(table, list);
    }
    const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;
    const parts = [...byTable].map(
      ([table, cols]) =>
        `SELECT ${pg.escapeLiteral(table)} AS t, count(*)::int AS n,
                md5(coalesce(string_agg(r, E'\\n' ORDER BY r), '')) AS h
           FROM (SELECT ROW(${cols.map(quote).join(', ')})::text AS r FROM ${quote(table)}) s`,
    );
    const { rows } = await this.pool.query<{ t: string; n: number; h: string }>(
      parts.join('\nUNION ALL\n'),
    );
    return Object.fromEntries(rows.map((row) => [row.t, { rows: row.n, digest: row.h }]));
  }

  async query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    return (await this.pool.query<R>(sql, params)).rows;
  }
}

/** Runs `body` and fails if any watched table changed meanwhile. */
export async function expectDatabaseUnchanged(
  db: DatabaseWatch,
  body: () => Promise<void>,
  exclude: readonly string[] = [],
): Promise<void> {
  const before = await db.snapshot(exclude);
  await body();
  const after = await db.snapshot(exclude);
  expect(after).toEqual(before);
}

// ---------------------------------------------------------------------------------------------
// Sending requests and judging answers
// ---------------------------------------------------------------------------------------------

export interface Received {
  /** What was sent, for failure messages. */
  request: string;
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

export interface FuzzRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

/** Sends one request; a hang (no answer in 10 s) fails the property like a 500 would. */
export async function send(baseUrl: string, request: FuzzRequest): Promise<Received> {
  const described = `${request.method} ${request.path} ${JSON.stringify(request.headers ?? {})} ${
    request.body === undefined ? '' : JSON.stringify(request.body.slice(0, 300))
  }${request.body !== undefined && request.body.length > 300 ? `…(${request.body.length})` : ''}`;
  let response: Response;
  try {
    response = await fetch(`${baseUrl}${request.path}`, {
      method: request.method,
      headers: request.headers,
      // fetch cannot send a body with GET or HEAD; servers ignore one anyway.
      body: request.method === 'GET' || request.method === 'HEAD' ? undefined : request.body,
      redirect: 'manual',
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    throw new Error(`no answer to ${described}: ${String(err)}`, { cause: err });
  }
  const text = await response.text();
  let json: unknown;
  try {
    json = text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: judged by its text
  }
  return { request: described, status: response.status, headers: response.headers, text, json };
}

function fail(received: Received, why: string): never {
  throw new Error(
    `${why}\n  request: ${received.request}\n  answer: ${received.status} ${received.text.slice(0, 500)}`,
  );
}

const LEAKS: RegExp[] = [
  /\bat [\w$.<>]+ \(.*:\d+:\d+\)/, // a stack frame
  /\bat (file|node):/,
  /node_modules/,
  /\.ts:\d+/,
  /QueryFailedError|TypeORMError|EntityPropertyNotFound/,
  /\b(SELECT|INSERT INTO|UPDATE|DELETE FROM)\b[\s\S]*\b(FROM|SET|VALUES|WHERE)\b/,
  /syntax error at or near|violates (unique|foreign key|check|not-null) constraint/,
  /invalid input syntax for type/,
  /\bTypeError\b|\bReferenceError\b|\bRangeError\b|Cannot read propert/,
];

/** No stack trace, SQL or runtime error text in a body. */
export function expectNoLeak(received: Received): void {
  for (const leak of LEAKS) {
    if (leak.test(received.text)) fail(received, `the body leaks internals (${String(leak)})`);
  }
}

/** RFC 6749 §5.2 and the extension registries this server uses. */
export const OAUTH_ERROR_CODES = new Set([
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'invalid_target',
  'unsupported_token_type',
  'invalid_redirect_uri',
  'invalid_client_metadata',
  'invalid_software_statement',
  'access_denied',
  'invalid_token',
  'insufficient_scope',
  'temporarily_unavailable',
]);

/** RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E. */
const DESCRIPTION_CHARSET = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A 4xx in the OAuth error format (RFC 6749 §5.2): JSON `{error, error_description?}` with a
 * known code, `invalid_client` 401 with WWW-Authenticate, 429 with Retry-After; `bearer`
 * endpoints challenge with `Bearer` (RFC 6750 §3) on 401.
 */
export function expectOAuthError(
  received: Received,
  options: { bearer?: boolean | 'resource' } = {},
): void {
  expectNoLeak(received);
  if (received.status < 400 || received.status > 499) fail(received, 'expected a 4xx');
  const type = received.headers.get('content-type') ?? '';
  if (!type.startsWith('application/json')) fail(received, 'an OAuth error must be JSON');
  const body = received.json;
  if (!isRecord(body)) fail(received, 'an OAuth error must be a JSON object');
  const extra = Object.keys(body).filter(
    (key) => !['error', 'error_description', 'error_uri'].includes(key),
  );
  if (extra.length > 0) fail(received, `unexpected members ${extra.join(', ')}`);
  if (typeof body.error !== 'string' || !OAUTH_ERROR_CODES.has(body.error))
    fail(received, 'unknown error code');
  if (body.error_description !== undefined) {
    if (typeof body.error_description !== 'string') fail(received, 'error_description type');
    if (!DESCRIPTION_CHARSET.test(body.error_description))
      fail(received, 'error_description has characters RFC 6749 §5.2 forbids');
    if (body.error_description.length > 1000) fail(received, 'error_description echoes too much');
  }
  const challenge = received.headers.get('www-authenticate');
  if (body.error === 'invalid_client' && received.status === 401 && !challenge)
    fail(received, 'invalid_client 401 without WWW-Authenticate (RFC 6749 §5.2)');
  if (received.status === 429 && !received.headers.get('retry-after'))
    fail(received, '429 without Retry-After');
  // RFC 6750 §3: a request without a usable token is answered with a Bearer challenge, and
  // so, at a protected resource, is a malformed one (§3.1 invalid_request).
  const needsChallenge =
    received.status === 401 ||
    received.status === 403 ||
    (options.bearer === 'resource' && body.error === 'invalid_request' && received.status === 400);
  if (options.bearer && needsChallenge && !/^Bearer\b/.test(challenge ?? ''))
    fail(received, 'a bearer endpoint must challenge with Bearer (RFC 6750 §3)');
}

/** A 4xx `{statusCode, code, message, details?}` whose statusCode is the HTTP status. */
export function expectAdminError(received: Received): void {
  expectNoLeak(received);
  if (received.status < 400 || received.status > 499) fail(received, 'expected a 4xx');
  const body = received.json;
  if (!isRecord(body)) fail(received, 'an admin error must be a JSON object');
  const extra = Object.keys(body).filter(
    (key) => !['statusCode', 'code', 'message', 'details', 'requestId'].includes(key),
  );
  if (extra.length > 0) fail(received, `unexpected members ${extra.join(', ')}`);
  if (body.statusCode !== received.status) fail(received, 'statusCode differs from the status');
  if (typeof body.code !== 'string' || body.code.length === 0) fail(received, 'code missing');
  if (typeof body.message !== 'string') fail(received, 'message missing');
  if (received.status === 429 && !received.headers.get('retry-after'))
    fail(received, '429 without Retry-After');
}

/** Browser pages: a 4xx page, or a redirect that stays on this origin (or to `allowed`). */
export function expectPageRejection(
  received: Received,
  baseUrl: string,
  allowedRedirects: readonly string[] = [],
): void {
  expectNoLeak(received);
  if (received.status >= 300 && received.status < 400) {
    const location = received.headers.get('location') ?? '';
    const target = new URL(location, baseUrl);
    const base = `${target.origin}${target.pathname}`;
    if (target.origin === new URL(baseUrl).origin) return;
    if (allowedRedirects.includes(base)) return;
    fail(received, `redirect to an unregistered place: ${location}`);
  }
  if (received.status < 400 || received.status > 499) fail(received, 'expected a 4xx or redirect');
}

export function failWith(received: Received, why: string): never {
  return fail(received, why);
}

// ---------------------------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------------------------

/** encodeURIComponent that survives lone surrogates (sent as U+FFFD, like a browser). */
export function encode(value: string): string {
  try {
    return encodeURIComponent(value);
  } catch {
    return encodeURIComponent(Buffer.from(value, 'utf8').toString('utf8'));
  }
}

const NASTY = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '%00',
  '%',
  '%zz',
  '%E0%A4%A',
  '\uFEFF',
  '\u202Eabc',
  '\uD800',
  'null',
  'undefined',
  '[]',
  '{}',
  '0',
  '-1',
  '1e309',
  'NaN',
  'true',
  '../../etc/passwd',
  "' OR '1'='1",
  '"; DROP TABLE clients; --',
  '<script>alert(1)</script>',
  '{{constructor.constructor("return process")()}}',
  '__proto__',
  'constructor',
  'http://127.0.0.1:1/',
  'javascript:alert(1)',
  'Basic',
  'Bearer',
  'lk_rt_',
  'lk_ac_',
  'lk_cs_',
  'lk_rat_',
  'lk_st_',
  'lk_sid_',
  '00000000-0000-0000-0000-000000000000',
  'eyJhbGciOiJub25lIn0.e30.',
  'a.b.c',
  '...',
];

/** Strings a parser might trip on: unicode, NUL, bad encodings, injection, huge. */
export function fuzzString(options: { huge?: boolean } = {}): fc.Arbitrary<string> {
  const arbitraries: fc.Arbitrary<string>[] = [
    fc.string({ maxLength: 30 }),
    fc.string({ unit: 'binary', maxLength: 30 }),
    fc.string({ unit: 'grapheme', maxLength: 20 }),
    fc.constantFrom(...NASTY),
    fc.base64String({ maxLength: 80 }),
    fc.uuid(),
    fc.webUrl(),
  ];
  if (options.huge !== false) {
    arbitraries.push(
      fc
        .tuple(
          fc.integer({ min: 2_000, max: 80_000 }),
          fc.constantFrom('A', 'é', '%', '&', '\u0000'),
        )
        .map(([length, unit]) => unit.repeat(length)),
    );
  }
  return fc.oneof(...arbitraries);
}

/** Name/value pairs of a form body, known names weighted in, repeats possible. */
export function formPairs(
  knownNames: readonly string[],
  value: fc.Arbitrary<string>,
  maxLength = 8,
): fc.Arbitrary<[string, string][]> {
  const name = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...knownNames) },
    { weight: 1, arbitrary: fuzzString({ huge: false }) },
  );
  return fc.array(fc.tuple(name, value), { maxLength });
}

/**
 * A body from pairs: properly encoded, raw (unencoded, so `&`, `=` and `%` break it), or with
 * the pairs shuffled by a broken encoder.
 */
export function formBody(pairs: [string, string][], raw: boolean): string {
  return pairs
    .map(([name, value]) => (raw ? `${name}=${value}` : `${encode(name)}=${encode(value)}`))
    .join('&');
}

export const CONTENT_TYPES = [
  'application/x-www-form-urlencoded',
  'application/x-www-form-urlencoded; charset=utf-8',
  'APPLICATION/X-WWW-FORM-URLENCODED',
  'application/json',
  'text/plain',
  'multipart/form-data; boundary=x',
  'application/x-www-form-urlencoded-evil',
  '',
  'application/xml',
  '*/*',
];

/** A form request with random content type, raw or encoded pairs. */
export function formRequestParts(
  knownNames: readonly string[],
  value: fc.Arbitrary<string> = fuzzString(),
): fc.Arbitrary<{ pairs: [string, string][]; raw: boolean; contentType: string }> {
  return fc.record({
    pairs: formPairs(knownNames, value),
    raw: fc.boolean(),
    contentType: fc.oneof(
      { weight: 5, arbitrary: fc.constant('application/x-www-form-urlencoded') },
      { weight: 1, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
    ),
  });
}

/** Any JSON value, including deep and odd shapes. */
export function jsonValue(): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.jsonValue({ maxDepth: 3 }),
    fuzzString({ huge: false }),
    fc.constantFrom(null, true, false, 0, -1, 1.5, 1e308, [], {}, [[]], { '': '' }),
  );
}

/** Header-safe text (fetch refuses CR, LF, NUL and non-Latin-1 in header values). */
export function headerText(): fc.Arbitrary<string> {
  return fc.oneof(
    fc.string({
      unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
      maxLength: 60,
    }),
    fc.constantFrom(
      '',
      ' ',
      'Bearer',
      'Bearer ',
      'Basic',
      'Basic ',
      'Basic Og==',
      'Basic !!!!',
      'DPoP x',
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// JWTs that must never be accepted
// ---------------------------------------------------------------------------------------------

function b64(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString(
    'base64url',
  );
}

/** Ways to break a JWT that was valid; each one really changes it. */
export function mutateJwt(token: string, how: number, at: number): string {
  const [header = '', payload = '', signature = ''] = token.split('.');
  const decoded = (part: string): Record<string, unknown> => {
    try {
      const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
      return isRecord(value) ? value : {};
    } catch {
      return {};
    }
  };
  switch (how % 9) {
    case 0: // truncated somewhere before the last two characters
      return token.slice(0, Math.max(0, at % Math.max(1, token.length - 2)));
    case 1: // alg none, signature dropped
      return `${b64({ ...decoded(header), alg: 'none' })}.${payload}.`;
    case 2: // alg none, signature kept
      return `${b64({ ...decoded(header), alg: 'none' })}.${payload}.${signature}`;
    case 3: // the claims changed under the old signature
      return `${header}.${b64({ ...decoded(payload), sub: 'attacker', scope: 'admin' })}.${signature}`;
    case 4: // HS256 keyed with nothing in particular (algorithm confusion)
      return `${b64({ ...decoded(header), alg: 'HS256' })}.${payload}.${signature}`;
    case 5: // signature removed
      return `${header}.${payload}`;
    case 6: // extra segment (JWE-like)
      return `${token}.AAAA`;
    case 7: // a character flipped inside the payload
      return `${header}.${flip(payload, at)}.${signature}`;
    default: // header not JSON
      return `${b64('not json')}.${payload}.${signature}`;
  }
}

function flip(text: string, at: number): string {
  if (text.length === 0) return 'A';
  // Never the last character: its low bits may be padding, leaving the bytes unchanged.
  const index = text.length === 1 ? 0 : at % (text.length - 1);
  const replacement = text[index] === 'A' ? 'B' : 'A';
  return text.slice(0, index) + replacement + text.slice(index + 1);
}

export interface JwtMaterial {
  /** JWTs that look right but are unsigned, foreign-signed, expired or broken. */
  forged: string[];
}

/**
 * Builds forged JWTs once (key generation is slow): `alg: none`, signed by a random key,
 * signed by a random key that is embedded in the header (`jwk`), expired, not yet valid, with
 * a foreign `jku`, and mutations of the real `genuine` tokens.
 */
export async function jwtMaterial(
  claims: { iss: string; aud: string; sub: string },
  genuine: string[],
): Promise<JwtMaterial> {
  const now = Math.floor(Date.now() / 1000);
  const base = { ...claims, iat: now, exp: now + 300, jti: 'fuzz', client_id: claims.sub };
  const forged: string[] = [
    `${b64({ alg: 'none' })}.${b64(base)}.`,
    `${b64({ alg: 'none', typ: 'at+jwt' })}.${b64({ ...base, scope: 'admin' })}.`,
    `${b64({ alg: 'NONE' })}.${b64(base)}.`,
    `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...base, aud: [claims.aud, 'x'] })}.`,
  ];
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const rsa = await generateKeyPair('RS256');
  const jwk = await exportJWK(publicKey);
  const signed = (payload: Record<string, unknown>, header: Record<string, unknown> = {}) =>
    new SignJWT(payload).setProtectedHeader({ alg: 'ES256', ...header }).sign(privateKey);
  forged.push(
    await signed(base),
    await signed(base, { typ: 'at+jwt', kid: 'unknown-kid' }),
    await signed(base, { jwk }),
    await signed(base, { jku: 'http://127.0.0.1:1/jwks.json', kid: 'x' }),
    await signed({ ...base, iat: now - 7200, exp: now - 3600 }),
    await signed({ ...base, nbf: now + 3600 }),
    await signed({ ...base, exp: 'tomorrow' }),
    await signed({ ...base, iss: 42, aud: { nested: true } }),
    await signed({}),
    await new SignJWT(base).setProtectedHeader({ alg: 'RS256' }).sign(rsa.privateKey),
  );
  for (const token of genuine) {
    for (let how = 0; how < 9; how++) forged.push(mutateJwt(token, how, 17 + how * 13));
  }
  return { forged };
}

/** A forged JWT, sometimes mutated once more. */
export function forgedJwt(material: JwtMaterial): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...material.forged) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.constantFrom(...material.forged), fc.nat(8), fc.nat(500))
        .map(([token, how, at]) => mutateJwt(token, how, at)),
    },
  );
}
