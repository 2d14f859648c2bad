import { CompactSign, decodeJwt } from 'jose';
import { randomUUID } from 'node:crypto';
import { AuditService } from '../../src/audit/audit.service.js';
import { SessionsService } from '../../src/sessions/sessions.service.js';
import { AccessTokensService } from '../../src/tokens/access-tokens.service.js';
import { SigningKeysService } from '../../src/tokens/signing-keys.service.js';
import { TokenFamiliesService } from '../../src/tokens/token-families.service.js';
import {
  createCodeClient,
  expectOAuthError,
  introspect,
  issueCode,
  redeemOk,
  type CodeClient,
  type IssuedCode,
  type UserTokenBody,
} from '../utils/user-grants.js';
import { startTestApp, tokenRequest, type TestApp, type TestClient } from '../utils/test-app.js';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';
const USER_SCOPE = 'openid agent:use tools:call api:read api:write';

interface ExchangeBody {
  access_token: string;
  token_type: string;
  expires_in: number;
  scope: string;
  issued_token_type: string;
}

interface UserGrant {
  issued: IssuedCode;
  tokens: UserTokenBody;
}

describe('RFC 8693 token exchange', () => {
  let sut: TestApp;
  let userClient: CodeClient;
  let agent: TestClient;
  let tool: TestClient;
  let api: TestClient;
  let agentApi: string;
  let toolApi: string;
  let downstreamApi: string;

  beforeAll(async () => {
    // A short chain limit: the third delegation hop is one too many.
    sut = await startTestApp({ TOKEN_EXCHANGE_MAX_DEPTH: '2' });
    const adminToken = await sut.adminToken();
    const register = async (name: string, scopes: string[]): Promise<string> => {
      const identifier = `https://${name}-${randomUUID()}.example.com/`;
      const response = await fetch(`${sut.baseUrl}/admin/resources`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ identifier, name, scopes }),
      });
      expect(response.status).toBe(201);
      return identifier;
    };
    agentApi = await register('agent', ['agent:use', 'tools:call', 'api:read', 'api:write']);
    toolApi = await register('tools', ['tools:call', 'api:read', 'api:write']);
    downstreamApi = await register('downstream', ['api:read', 'api:write']);
    userClient = await createCodeClient(sut);
    const exchanger = (allowed: string[]) =>
      sut.createClient({
        grant_types: ['client_credentials', TOKEN_EXCHANGE],
        allowed_scopes: allowed,
      });
    agent = await exchanger(['tools:call', 'api:read', 'api:write']);
    tool = await exchanger(['api:read', 'api:write']);
    api = await exchanger(['api:read']);
  });

  afterAll(async () => {
    await sut.close();
  });

  /** A user's access token for the agent API, from the code flow. */
  async function userGrant(): Promise<UserGrant> {
    const issued = await issueCode(sut, userClient, { scope: USER_SCOPE, resource: agentApi });
    return { issued, tokens: await redeemOk(sut, userClient, issued) };
  }

  async function clientToken(client: TestClient): Promise<string> {
    const response = await tokenRequest(sut.baseUrl, client, { grant_type: 'client_credentials' });
    expect(response.status).toBe(200);
    return ((await response.json()) as { access_token: string }).access_token;
  }

  function exchange(client: TestClient, params: Record<string, string>): Promise<Response> {
    return tokenRequest(sut.baseUrl, client, { grant_type: TOKEN_EXCHANGE, ...params });
  }

  async function exchangeOk(
    client: TestClient,
    params: Record<string, string>,
  ): Promise<ExchangeBody> {
    const response = await exchange(client, params);
    const body = (await response.json()) as ExchangeBody;
    expect({ status: response.status, body }).toMatchObject({ status: 200 });
    return body;
  }

  /** A delegated exchange with `actor`'s own client_credentials token as actor token. */
  async function delegate(
    actor: TestClient,
    subjectToken: string,
    params: Record<string, string>,
  ): Promise<Response> {
    return exchange(actor, {
      subject_token: subjectToken,
      subject_token_type: ACCESS_TOKEN,
      actor_token: await clientToken(actor),
      actor_token_type: ACCESS_TOKEN,
      ...params,
    });
  }

  /** An access token signed with the server's key, with claims no grant would issue. */
  async function forgeAccessToken(claims: Record<string, unknown>): Promise<string> {
    const key = sut.app.get(SigningKeysService).activeKey('access_token');
    const now = Math.floor(Date.now() / 1000);
    const payload = {
      iss: sut.baseUrl,
      sub: randomUUID(),
      aud: agentApi,
      iat: now,
      exp: now + 300,
      jti: randomUUID(),
      client_id: userClient.client_id,
      scope: 'tools:call api:read',
      ...claims,
    };
    return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' })
      .sign(key.privateKey);
  }

  it('is advertised in discovery', async () => {
    const response = await fetch(`${sut.baseUrl}/.well-known/openid-configuration`);
    const metadata = (await response.json()) as { grant_types_supported: string[] };
    expect(metadata.grant_types_supported).toContain(TOKEN_EXCHANGE);
  });

  it('delegates along a chain: each hop narrower, with a nested act', async () => {
    const { issued, tokens } = await userGrant();
    const user = decodeJwt(tokens.access_token);
    expect(user.aud).toBe(agentApi);

    const hop1 = await exchangeOk(agent, {
      subject_token: tokens.access_token,
      subject_token_type: ACCESS_TOKEN,
      actor_token: await clientToken(agent),
      actor_token_type: ACCESS_TOKEN,
      resource: toolApi,
      scope: 'tools:call api:read',
    });
    expect(hop1).toMatchObject({
      token_type: 'Bearer',
      scope: 'tools:call api:read',
      issued_token_type: ACCESS_TOKEN,
    });
    expect(hop1.expires_in).toBeLessThanOrEqual(Number(user.exp) - Math.floor(Date.now() / 1000));
    const claims1 = decodeJwt(hop1.access_token);
    expect(claims1).toMatchObject({
      sub: issued.user.id,
      aud: toolApi,
      client_id: agent.client_id,
      scope: 'tools:call api:read',
      sid: issued.session.id,
      act: { sub: agent.client_id, client_id: agent.client_id },
    });

    // The tool server names its target by audience; the default scope is what it may carry.
    const hop2 = await delegate(tool, hop1.access_token, { audience: downstreamApi });
    const body2 = (await hop2.json()) as ExchangeBody;
    expect(hop2.status).toBe(200);
    expect(body2.scope).toBe('api:read');
    expect(decodeJwt(body2.access_token)).toMatchObject({
      sub: issued.user.id,
      aud: downstreamApi,
      client_id: tool.client_id,
      scope: 'api:read',
      act: {
        sub: tool.client_id,
        client_id: tool.client_id,
        act: { sub: agent.client_id, client_id: agent.client_id },
      },
    });
    const active = await introspect(sut, body2.access_token);
    expect(active).toMatchObject({ active: true, sub: issued.user.id, aud: downstreamApi });

    await sut.app.get(AuditService).flush();
    const events = await sut.dataSource.query<{ details: Record<string, string> }[]>(
      `SELECT details FROM audit_events WHERE type = 'token.exchanged' AND client_id = $1`,
      [tool.client_id],
    );
    expect(events.map((event) => event.details)).toContainEqual({
      subject: issued.user.id,
      actor_chain: `${tool.client_id} > ${agent.client_id}`,
      client_id: tool.client_id,
      audience: downstreamApi,
      jti: decodeJwt(body2.access_token).jti,
    });

    // A third hop would make three nested act levels; the limit here is two.
    await expectOAuthError(
      await delegate(api, body2.access_token, { audience: downstreamApi }),
      400,
      'invalid_request',
      'delegation chain is too deep',
    );
  });

  it('revoking the subject token family revokes the exchanged tokens', async () => {
    const { tokens } = await userGrant();
    const hop1 = await exchangeOk(agent, {
      subject_token: tokens.access_token,
      subject_token_type: ACCESS_TOKEN,
      actor_token: await clientToken(agent),
      actor_token_type: ACCESS_TOKEN,
      resource: toolApi,
    });
    const hop2 = (await (
      await delegate(tool, hop1.access_token, { resource: downstreamApi })
    ).json()) as ExchangeBody;
    expect(await introspect(sut, hop2.access_token)).toMatchObject({ active: true });

    const rows = await sut.dataSource.query<{ family_id: string }[]>(
      `SELECT family_id FROM family_access_tokens WHERE jti = $1`,
      [decodeJwt(tokens.access_token).jti],
    );
    await sut.app.get(TokenFamiliesService).revoke(rows[0].family_id, 'test');

    expect(await introspect(sut, hop1.access_token)).toEqual({ active: false });
    expect(await introspect(sut, hop2.access_token)).toEqual({ active: false });
  });

  it('refuses an actor that the subject token does not allow', async () => {
    const refused = await forgeAccessToken({ may_act: { sub: 'someone-else' } });
    await expectOAuthError(
      await delegate(agent, refused, { resource: toolApi }),
      400,
      'invalid_grant',
      'the actor is not allowed to act for the subject',
    );
    const allowed = await forgeAccessToken({ may_act: { client_id: agent.client_id } });
    const response = await delegate(agent, allowed, { resource: toolApi });
    expect(response.status).toBe(200);
  });

  it('allows impersonation only to clients an admin allowed', async () => {
    const { issued, tokens } = await userGrant();
    const params = {
      subject_token: tokens.access_token,
      subject_token_type: ACCESS_TOKEN,
      resource: toolApi,
    };
    await expectOAuthError(
      await exchange(agent, params),
      400,
      'unauthorized_client',
      'the client may not impersonate',
    );

    const impersonator = await sut.createClient({
      grant_types: [TOKEN_EXCHANGE],
      allowed_scopes: ['tools:call'],
      may_impersonate: true,
    });
    const body = await exchangeOk(impersonator, params);
    expect(body.scope).toBe('tools:call');
    const claims = decodeJwt(body.access_token);
    expect(claims).toMatchObject({
      sub: issued.user.id,
      aud: toolApi,
      client_id: impersonator.client_id,
    });
    expect(claims).not.toHaveProperty('act');
  });

  it('accepts an ID token as the subject, with the openid scope', async () => {
    const { issued, tokens } = await userGrant();
    const impersonator = await sut.createClient({
      grant_types: [TOKEN_EXCHANGE],
      allowed_scopes: ['openid'],
      may_impersonate: true,
    });
    const body = await exchangeOk(impersonator, {
      subject_token: tokens.id_token ?? '',
      subject_token_type: ID_TOKEN,
      audience: toolApi,
    });
    expect(body.scope).toBe('openid');
    expect(decodeJwt(body.access_token)).toMatchObject({ sub: issued.user.id, aud: toolApi });
    // The ID token's session is the lineage: signing it out revokes what was exchanged from it,
    // and its ID token can no longer be exchanged.
    expect(await introspect(sut, body.access_token)).toMatchObject({ active: true });
    await sut.app.get(SessionsService).revoke(issued.session.id);
    expect(await introspect(sut, body.access_token)).toEqual({ active: false });
    await expectOAuthError(
      await exchange(impersonator, {
        subject_token: tokens.id_token ?? '',
        subject_token_type: ID_TOKEN,
        audience: toolApi,
      }),
      400,
      'invalid_grant',
      'subject_token is not valid',
    );
    // An access token presented as an ID token is not one.
    await expectOAuthError(
      await exchange(impersonator, {
        subject_token: tokens.access_token,
        subject_token_type: ID_TOKEN,
        audience: toolApi,
      }),
      400,
      'invalid_grant',
      'subject_token is not valid',
    );
  });

  it('never widens the scope', async () => {
    const { tokens } = await userGrant();
    await expectOAuthError(
      await delegate(agent, tokens.access_token, {
        resource: toolApi,
        scope: 'tools:call reports:delete',
      }),
      400,
      'invalid_scope',
      'the subject_token does not carry: reports:delete',
    );
    // Carried by the subject, but nothing the agent may request that the target defines.
    await expectOAuthError(
      await delegate(agent, tokens.access_token, { resource: toolApi, scope: 'agent:use' }),
      400,
      'invalid_scope',
      'no requested scope may be issued to this client for the target',
    );
  });

  it('refuses expired, revoked and unverifiable tokens', async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = await forgeAccessToken({ iat: now - 600, exp: now - 60 });
    await expectOAuthError(
      await delegate(agent, expired, { resource: toolApi }),
      400,
      'invalid_grant',
      'subject_token is not valid',
    );

    const { tokens } = await userGrant();
    const accessTokens = sut.app.get(AccessTokensService);
    await accessTokens.revoke(await accessTokens.verify(tokens.access_token));
    await expectOAuthError(
      await delegate(agent, tokens.access_token, { resource: toolApi }),
      400,
      'invalid_grant',
      'subject_token is not valid',
    );

    const fresh = await userGrant();
    await expectOAuthError(
      await exchange(agent, {
        subject_token: fresh.tokens.access_token,
        subject_token_type: ACCESS_TOKEN,
        actor_token: 'not.a.token',
        actor_token_type: ACCESS_TOKEN,
        resource: toolApi,
      }),
      400,
      'invalid_grant',
      'actor_token is not valid',
    );
  });

  it('validates the request parameters', async () => {
    const { tokens } = await userGrant();
    const base = { subject_token: tokens.access_token, subject_token_type: ACCESS_TOKEN };
    const cases: [Record<string, string>, string, string][] = [
      [
        {
          ...base,
          subject_token_type: 'urn:ietf:params:oauth:token-type:saml2',
          resource: toolApi,
        },
        'invalid_request',
        'unsupported subject_token_type',
      ],
      [
        { ...base, actor_token: tokens.access_token, resource: toolApi },
        'invalid_request',
        'actor_token_type is required with actor_token',
      ],
      [
        {
          ...base,
          requested_token_type: 'urn:ietf:params:oauth:token-type:refresh_token',
          resource: toolApi,
        },
        'invalid_request',
        'requested_token_type urn:ietf:params:oauth:token-type:refresh_token is not supported',
      ],
      [base, 'invalid_target', 'name the target with resource or audience'],
      [
        { ...base, resource: toolApi, audience: downstreamApi },
        'invalid_target',
        'resource and audience name different targets',
      ],
      [
        { ...base, audience: 'https://unknown.example.com/' },
        'invalid_target',
        'the requested resource is not known to this server',
      ],
    ];
    for (const [params, error, description] of cases) {
      await expectOAuthError(await exchange(agent, params), 400, error, description);
    }
  });
});
