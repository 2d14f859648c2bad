import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { OAuthClientMetadata } from '@modelcontextprotocol/sdk/shared/auth.js';
import { decodeJwt } from 'jose';
import { randomUUID } from 'node:crypto';
import { startCimdHost, type CimdHost } from '../utils/cimd-host.js';
import { InMemoryOAuthProvider } from '../utils/mcp-oauth-provider.js';
import {
  MCP_SCOPE as SCOPE,
  startMcpResourceServer,
  type McpResourceServer,
} from '../utils/mcp-resource-server.js';
import { enrollAndSignIn, type SignedInUser } from '../utils/soft-authenticator.js';
import { freePort, startTestApp, type TestApp } from '../utils/test-app.js';

/**
 * The MCP TypeScript SDK's client, with its own `auth()` flow, against Latchkey and a small MCP
 * server that trusts Latchkey's tokens: RFC 9728 discovery from the 401, client registration
 * (RFC 7591 or a Client ID Metadata Document), authorization with PKCE and `resource`
 * (RFC 8707), passkey sign-in and consent, the token, a tool call, and a refresh.
 */
describe('MCP SDK client against Latchkey', () => {
  /** A Latchkey with a registered MCP resource and a person allowed to use it. */
  interface World {
    sut: TestApp;
    rs: McpResourceServer;
    person: SignedInUser;
  }

  async function admin(sut: TestApp, path: string, body: unknown): Promise<void> {
    const response = await fetch(`${sut.baseUrl}${path}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await sut.adminToken()}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify(body),
    });
    if (response.status !== 201) {
      throw new Error(`POST ${path}: ${response.status} ${await response.text()}`);
    }
  }

  /**
   * Starts Latchkey and the MCP server, registers the resource and signs a person in. Whatever
   * started is recorded in `servers` first, so afterAll closes it even if a later step fails.
   */
  async function startWorld(
    env: Record<string, string>,
    servers: { close(): Promise<void> }[],
  ): Promise<World> {
    const sut = await startTestApp(env, { host: 'localhost' });
    servers.push(sut);
    const rs = await startMcpResourceServer({
      issuer: sut.baseUrl,
      // The SDK asks for exactly what the metadata offers; offline_access gets a refresh token.
      scopesSupported: [SCOPE, 'offline_access'],
    });
    servers.push(rs);
    await admin(sut, '/admin/resources', {
      identifier: rs.url,
      name: 'Test MCP server',
      scopes: [SCOPE],
    });
    const role = `mcp-${randomUUID().slice(0, 8)}`;
    await admin(sut, '/admin/roles', { name: role, permissions: [SCOPE] });
    const person = await enrollAndSignIn(sut, { roles: ['user', role] });
    return { sut, rs, person };
  }

  async function closeAll(servers: { close(): Promise<void> }[]): Promise<void> {
    for (const server of servers.reverse()) await server.close();
  }

  /** The person's browser: authorize, consent if asked, and the redirect back to the client. */
  function browserOf(world: World) {
    return async (authorizationUrl: URL): Promise<URL> => {
      const cookie = world.person.cookie;
      const first = await fetch(authorizationUrl, { redirect: 'manual', headers: { cookie } });
      if (first.status === 302) return new URL(first.headers.get('location') ?? '');
      const html = await first.text();
      if (first.status !== 200) throw new Error(`authorize: ${first.status} ${html}`);
      const field = (name: string) =>
        (new RegExp(`name='${name}' value='([^']*)'`).exec(html)?.[1] ?? '')
          .replace(/&amp;/g, '&')
          .replace(/&#x3D;/g, '=');
      const decided = await fetch(`${world.sut.baseUrl}/oauth/authorize/decision`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
        body: new URLSearchParams({
          request: field('request'),
          csrf: field('csrf'),
          decision: 'approve',
        }),
      });
      if (decided.status !== 303) {
        throw new Error(`consent: ${decided.status} ${await decided.text()}`);
      }
      return new URL(decided.headers.get('location') ?? '');
    };
  }

  function clientMetadata(redirectUrl: string): OAuthClientMetadata {
    return {
      client_name: 'Latchkey MCP test client',
      redirect_uris: [redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }

  async function whoami(client: Client): Promise<string> {
    const result = await client.callTool({ name: 'whoami' });
    const content = result.content as { type: string; text: string }[];
    return content[0].text;
  }

  /**
   * Drives the whole flow and checks what each step left behind. Returns the client_id the SDK
   * ended up with.
   */
  async function driveFullFlow(world: World, provider: InMemoryOAuthProvider): Promise<string> {
    const { sut, rs, person } = world;

    // 0. What the SDK will discover: the guard's challenge and the RFC 9728 document.
    const bare = await fetch(rs.url, { method: 'POST' });
    expect(bare.status).toBe(401);
    expect(bare.headers.get('www-authenticate')).toBe(
      `Bearer resource_metadata="${rs.metadataUrl}"`,
    );
    expect(await (await fetch(rs.metadataUrl)).json()).toMatchObject({
      resource: rs.url,
      authorization_servers: [sut.baseUrl],
      scopes_supported: [SCOPE, 'offline_access'],
      bearer_methods_supported: ['header'],
    });

    // 1. No token: 401 with resource_metadata; auth() discovers, registers and redirects.
    const first = new StreamableHTTPClientTransport(new URL(rs.url), { authProvider: provider });
    const firstClient = new Client({ name: 'latchkey-e2e', version: '1.0.0' });
    await expect(firstClient.connect(first)).rejects.toThrow(UnauthorizedError);

    const clientId = provider.clientInformation()?.client_id ?? '';
    expect(clientId).not.toBe('');
    expect(provider.authorizationUrls).toHaveLength(1);
    const asked = provider.authorizationUrls[0];
    expect(`${asked.origin}${asked.pathname}`).toBe(`${sut.baseUrl}/oauth/authorize`);
    expect(Object.fromEntries(asked.searchParams)).toMatchObject({
      response_type: 'code',
      client_id: clientId,
      code_challenge_method: 'S256',
      redirect_uri: provider.redirectUrl,
      resource: rs.url,
      scope: `${SCOPE} offline_access`,
    });
    expect(asked.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);

    // 2. The browser came back with a code (RFC 9207 iss); the SDK exchanges it.
    const callback = provider.callback;
    // Compared as a pair, so a refusal shows its error_description.
    expect({
      error: callback?.searchParams.get('error'),
      error_description: callback?.searchParams.get('error_description'),
    }).toEqual({ error: null, error_description: null });
    expect(callback?.searchParams.get('iss')).toBe(sut.baseUrl);
    const code = callback?.searchParams.get('code') ?? '';
    expect(code).toMatch(/^lk_ac_/);
    await first.finishAuth(code);
    await firstClient.close();
    const issued = provider.tokens();
    expect(issued?.refresh_token).toMatch(/^lk_rt_/);
    expect(issued?.scope?.split(' ')).toContain(SCOPE);
    // RFC 8707: the token is for this MCP server only.
    expect(decodeJwt(issued?.access_token ?? '')).toMatchObject({
      aud: rs.url,
      sub: person.user.id,
      client_id: clientId,
    });

    // 3. Connected with the token: the tool sees the person.
    const transport = new StreamableHTTPClientTransport(new URL(rs.url), {
      authProvider: provider,
    });
    const client = new Client({ name: 'latchkey-e2e', version: '1.0.0' });
    try {
      await client.connect(transport);
      expect(await whoami(client)).toBe(person.user.id);

      // 4. The access token stops working: the SDK refreshes on the 401 and retries.
      provider.spoilAccessToken();
      const rejectedBefore = rs.rejected;
      expect(await whoami(client)).toBe(person.user.id);
      expect(rs.rejected).toBe(rejectedBefore + 1);
      const refreshed = provider.tokens();
      expect(refreshed?.refresh_token).toMatch(/^lk_rt_/);
      expect(refreshed?.refresh_token).not.toBe(issued?.refresh_token);
      expect(refreshed?.access_token).not.toBe(issued?.access_token);
      expect(decodeJwt(refreshed?.access_token ?? '')).toMatchObject({ aud: rs.url });
      expect(provider.authorizationUrls).toHaveLength(1);
      expect(rs.calls).toEqual([
        { tool: 'whoami', sub: person.user.id },
        { tool: 'whoami', sub: person.user.id },
      ]);
    } finally {
      await client.close();
    }
    return clientId;
  }

  describe('with Dynamic Client Registration', () => {
    const servers: { close(): Promise<void> }[] = [];
    let world: World;

    beforeAll(async () => {
      world = await startWorld({ REGISTRATION_MODE: 'open' }, servers);
    });

    afterAll(() => closeAll(servers));

    it('registers, signs the person in, calls a tool and refreshes', async () => {
      const redirectUrl = `http://127.0.0.1:${await freePort()}/callback`;
      const provider = new InMemoryOAuthProvider(
        redirectUrl,
        clientMetadata(redirectUrl),
        browserOf(world),
      );

      const clientId = await driveFullFlow(world, provider);

      const registered = provider.clientInformation();
      expect(registered).toMatchObject({ client_id: clientId });
      expect(clientId).not.toMatch(/^https:/);
    });
  });

  describe('with a Client ID Metadata Document', () => {
    const servers: { close(): Promise<void> }[] = [];
    let cimd: CimdHost;
    let world: World;

    beforeAll(async () => {
      cimd = await startCimdHost();
      servers.push(cimd);
      // Registration is off: the document is the only way this client can exist.
      world = await startWorld(
        { REGISTRATION_MODE: 'off', FETCH_ALLOW_HOSTS: new URL(cimd.origin).host },
        servers,
      );
    });

    afterAll(() => closeAll(servers));

    it('names itself by its document URL, signs the person in, calls a tool and refreshes', async () => {
      const redirectUrl = `http://127.0.0.1:${await freePort()}/callback`;
      const documentUrl = `${cimd.origin}/client.json`;
      const metadata = clientMetadata(redirectUrl);
      // RFC 7591 §2 `scope`: what this client asks to be allowed, as a DCR client registers it.
      cimd.publish('/client.json', {
        client_id: documentUrl,
        ...metadata,
        scope: `${SCOPE} offline_access`,
      });
      const provider = new InMemoryOAuthProvider(
        redirectUrl,
        metadata,
        browserOf(world),
        documentUrl,
      );

      const clientId = await driveFullFlow(world, provider);

      expect(clientId).toBe(documentUrl);
      expect(cimd.fetches.get('/client.json')).toBeGreaterThanOrEqual(1);
    });
  });
});
