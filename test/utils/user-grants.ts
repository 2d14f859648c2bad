import { createHash, randomBytes, randomUUID } from 'node:crypto';
import {
  createLocalJWKSet,
  jwtVerify,
  type JSONWebKeySet,
  type JWTHeaderParameters,
  type JWTPayload,
} from 'jose';
import { AuthorizationCodesService } from '../../src/tokens/authorization-codes.service.js';
import { postForm, tokenRequest, type TestApp, type TestClient } from './test-app.js';

export const REDIRECT_URI = 'https://app.example.com/callback';

export interface OAuthErrorBody {
  error: string;
  error_description: string;
}

export interface UserTokenBody {
  access_token: string;
  token_type: string;
  expires_in: number;
  scope: string;
  refresh_token?: string;
  id_token?: string;
}

export interface TestUser {
  id: string;
  email: string;
  displayName: string;
}

export interface TestSession {
  id: string;
  authTime: Date;
}

/** A client of the authorization_code (and refresh_token) grant, confidential or public. */
export interface CodeClient extends TestClient {
  public: boolean;
}

/** A user row inserted directly (the users module has its own tests). */
export async function createUser(sut: TestApp, emailVerified = true): Promise<TestUser> {
  const email = `user-${randomUUID()}@example.com`;
  const displayName = `User ${email.slice(5, 13)}`;
  const rows = await sut.dataSource.query<{ id: string }[]>(
    `INSERT INTO users (email, email_verified, display_name, roles) VALUES ($1, $2, $3, '{user}')
     RETURNING id`,
    [email, emailVerified, displayName],
  );
  return { id: rows[0].id, email, displayName };
}

/** A browser session row, signed in a minute ago with a passkey. */
export async function createSession(sut: TestApp, userId: string): Promise<TestSession> {
  const authTime = new Date(Math.floor(Date.now() / 1000 - 60) * 1000);
  const rows = await sut.dataSource.query<{ id: string }[]>(
    `INSERT INTO sessions (sid_hash, user_id, auth_time, amr, expires_at)
     VALUES ($1, $2, $3, '{hwk,user}', now() + interval '1 hour') RETURNING id`,
    [randomBytes(32).toString('base64url'), userId, authTime],
  );
  return { id: rows[0].id, authTime };
}

export async function createCodeClient(
  sut: TestApp,
  options: { public?: boolean; refresh?: boolean } = {},
): Promise<CodeClient> {
  const grantTypes =
    options.refresh === false ? ['authorization_code'] : ['authorization_code', 'refresh_token'];
  const client = await sut.createClient({
    client_type: options.public ? 'public' : 'confidential',
    grant_types: grantTypes,
    redirect_uris: [REDIRECT_URI],
  });
  return { ...client, public: options.public ?? false };
}

export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export interface IssuedCode {
  code: string;
  verifier: string;
  challenge: string;
  user: TestUser;
  session: TestSession;
  nonce: string;
}

/** Mints a code as /authorize would, straight through AuthorizationCodesService. */
export async function issueCode(
  sut: TestApp,
  client: TestClient,
  options: {
    scope?: string;
    user?: TestUser;
    session?: TestSession;
    resource?: string | null;
  } = {},
): Promise<IssuedCode> {
  const user = options.user ?? (await createUser(sut));
  const session = options.session ?? (await createSession(sut, user.id));
  const { verifier, challenge } = pkcePair();
  const nonce = randomBytes(12).toString('base64url');
  const code = await sut.app.get(AuthorizationCodesService).issue({
    clientId: client.client_id,
    userId: user.id,
    sessionId: session.id,
    redirectUri: REDIRECT_URI,
    scope: options.scope ?? 'openid profile email offline_access',
    resources: options.resource ? [options.resource] : [],
    nonce,
    codeChallenge: challenge,
    authTime: session.authTime,
    amr: ['hwk', 'user'],
  });
  return { code, verifier, challenge, user, session, nonce };
}

/** POST /oauth/token as the client: HTTP Basic for confidential clients, client_id for public. */
export function tokenPost(
  sut: TestApp,
  client: CodeClient,
  params: Record<string, string>,
): Promise<Response> {
  if (!client.public) return tokenRequest(sut.baseUrl, client, params);
  return postForm(`${sut.baseUrl}/oauth/token`, { client_id: client.client_id, ...params });
}

export function redeem(
  sut: TestApp,
  client: CodeClient,
  issued: IssuedCode,
  overrides: Record<string, string> = {},
): Promise<Response> {
  return tokenPost(sut, client, {
    grant_type: 'authorization_code',
    code: issued.code,
    redirect_uri: REDIRECT_URI,
    code_verifier: issued.verifier,
    ...overrides,
  });
}

export async function redeemOk(
  sut: TestApp,
  client: CodeClient,
  issued: IssuedCode,
): Promise<UserTokenBody> {
  const response = await redeem(sut, client, issued);
  const body = (await response.json()) as UserTokenBody;
  expect(response.status).toBe(200);
  return body;
}

export function refresh(
  sut: TestApp,
  client: CodeClient,
  refreshToken: string,
  extra: Record<string, string> = {},
): Promise<Response> {
  return tokenPost(sut, client, {
    grant_type: 'refresh_token',
    refresh_token: refreshToken,
    ...extra,
  });
}

/** RFC 7662 introspection by a fresh confidential client (or by `as`, e.g. the token's own client). */
export async function introspect(
  sut: TestApp,
  token: string,
  as?: TestClient,
): Promise<Record<string, unknown>> {
  const caller = as ?? (await sut.createClient());
  const response = await tokenRequest(sut.baseUrl, caller, { token }, '/oauth/introspect');
  expect(response.status).toBe(200);
  return (await response.json()) as Record<string, unknown>;
}

export async function expectOAuthError(
  response: Response,
  status: number,
  error: string,
  description: string,
): Promise<void> {
  const body = (await response.json()) as OAuthErrorBody;
  expect({ status: response.status, body }).toEqual({
    status,
    body: { error, error_description: description },
  });
}

/** Verifies a JWT against the server's published JWKS. */
export async function verifyWithJwks(
  sut: TestApp,
  token: string,
  options: { audience: string; typ?: string },
): Promise<{ payload: JWTPayload; header: JWTHeaderParameters }> {
  const jwks = (await (
    await fetch(`${sut.baseUrl}/.well-known/jwks.json`)
  ).json()) as JSONWebKeySet;
  const result = await jwtVerify(token, createLocalJWKSet(jwks), {
    issuer: sut.baseUrl,
    audience: options.audience,
    typ: options.typ,
  });
  return { payload: result.payload, header: result.protectedHeader };
}

/** Refresh tokens of the family that are live: not rotated and not expired. */
export async function liveTokensInFamily(sut: TestApp, familyId: string): Promise<number> {
  const rows = await sut.dataSource.query<{ n: string }[]>(
    `SELECT count(*) AS n FROM refresh_tokens
     WHERE family_id = $1 AND rotated_at IS NULL AND expires_at > now()`,
    [familyId],
  );
  return Number(rows[0].n);
}

export async function familyOf(sut: TestApp, refreshToken: string): Promise<string> {
  const rows = await sut.dataSource.query<{ family_id: string }[]>(
    `SELECT family_id FROM refresh_tokens WHERE token_hash = $1`,
    [createHash('sha256').update(refreshToken).digest('base64url')],
  );
  expect(rows).toHaveLength(1);
  return rows[0].family_id;
}

export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}
