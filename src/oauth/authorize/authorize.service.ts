import { Injectable } from '@nestjs/common';
import type { IncomingHttpHeaders } from 'node:http';
import { AppConfig } from '../../config/app-config.js';
import { ClientsService } from '../../clients/clients.service.js';
import type { FormParams } from '../../common/http.js';
import { InvalidTarget } from '../../common/oauth-errors.js';
import {
  describeUndefined,
  normalizeResource,
  scopesFor,
  undefinedScopes,
  type ResourceServer,
} from '../../resources/resource-server.js';
import { ROUTES } from '../../common/routes.js';
import { countOAuthError } from '../../health/metrics-registry.js';
import { ResourcesService } from '../../resources/resources.service.js';
import type { SessionRecord } from '../../sessions/session-record.js';
import { SessionsService } from '../../sessions/sessions.service.js';
import { AuthorizationCodesService } from '../../tokens/authorization-codes.service.js';
import { isUserTier, orderScopes, resolveScopes } from '../../users/permissions.js';
import type { UserRecord } from '../../users/user-record.js';
import { UsersService } from '../../users/users.service.js';
import {
  OIDC_SCOPES,
  checkClientAndRedirect,
  checkRequest,
  parseQuery,
  redirectWith,
  type AuthorizationRequest,
} from './authorization-request.js';
import { AuthorizeError, UntrustedAuthorizeError } from './authorize-errors.js';
import { ConsentCsrf } from './consent-csrf.js';
import { ConsentsService } from './consents.service.js';
import { describeScope } from './scope-descriptions.js';

export interface ConsentView {
  clientName: string;
  logoUri: string | null;
  redirectHost: string;
  /** Where the decision sends the browser: the page's CSP must allow the form to go there. */
  redirectUri: string;
  userEmail: string;
  permissions: { scope: string; description: string }[];
  request: string;
  csrf: string;
}

export type AuthorizeOutcome =
  | { kind: 'redirect'; location: string }
  | { kind: 'consent'; view: ConsentView }
  | { kind: 'error'; status: number; title: string; description: string };

export type Decision = 'approve' | 'deny';

const OIDC_ORDER = ['openid', 'profile', 'email', 'offline_access'];

/** GET /oauth/authorize and the consent decision (RFC 6749 §4.1, OIDC Core §3.1.2, RFC 9207). */
@Injectable()
export class AuthorizeService {
  constructor(
    private readonly config: AppConfig,
    private readonly clients: ClientsService,
    private readonly resources: ResourcesService,
    private readonly sessions: SessionsService,
    private readonly users: UsersService,
    private readonly consents: ConsentsService,
    private readonly codes: AuthorizationCodesService,
    private readonly csrf: ConsentCsrf,
  ) {}

  authorize(query: string, headers: IncomingHttpHeaders): Promise<AuthorizeOutcome> {
    return this.run(query, headers, null);
  }

  /** POST to the authorization endpoint: the same request, as a form body. */
  authorizeForm(form: FormParams, headers: IncomingHttpHeaders): Promise<AuthorizeOutcome> {
    return this.run(toQuery(form), headers, null);
  }

  /** The consent form's POST: the request is validated again from scratch, then decided. */
  async decide(form: FormParams, headers: IncomingHttpHeaders): Promise<AuthorizeOutcome> {
    if (!sameOriginPost(headers, new URL(this.config.issuer).origin)) {
      return errorPage(403, 'Request refused', 'The form was not sent from this site.');
    }
    if (form.multi.size > 0) return errorPage(400, 'Invalid request', 'A form field is repeated.');
    const request = form.values.get('request') ?? '';
    const decision = form.values.get('decision');
    if (decision !== 'approve' && decision !== 'deny') {
      return errorPage(400, 'Invalid request', 'The decision is missing.');
    }
    return this.run(request, headers, { decision, csrf: form.values.get('csrf') });
  }

  private async run(
    query: string,
    headers: IncomingHttpHeaders,
    decided: { decision: Decision; csrf: string | undefined } | null,
  ): Promise<AuthorizeOutcome> {
    let params: FormParams;
    let client: Awaited<ReturnType<typeof checkClientAndRedirect>>;
    try {
      params = parseQuery(query);
      const clientId = params.values.get('client_id') ?? '';
      const record =
        clientId.length > 0 && clientId.length <= 512
          ? await this.clients.findRecord(clientId)
          : null;
      client = checkClientAndRedirect(params, record);
    } catch (err) {
      if (err instanceof UntrustedAuthorizeError) {
        // No RFC code reaches anyone here; the page is what invalid_request would have said.
        countOAuthError(endpointOf(decided), 'invalid_request');
        return errorPage(400, err.title, err.description);
      }
      throw err;
    }
    // From here on the redirect URI is trusted: errors go back to the client (RFC 6749 §4.1.2.1).
    const state = params.multi.has('state') ? null : (params.values.get('state') ?? null);
    try {
      const request = checkRequest(params, client.client, client.redirectUri, query);
      return await this.decideFor(request, headers, decided);
    } catch (err) {
      if (err instanceof AuthorizeError) {
        countOAuthError(endpointOf(decided), err.error);
        return this.redirect(client.redirectUri, {
          error: err.error,
          error_description: err.description,
          state,
        });
      }
      throw err;
    }
  }

  private async decideFor(
    request: AuthorizationRequest,
    headers: IncomingHttpHeaders,
    decided: { decision: Decision; csrf: string | undefined } | null,
  ): Promise<AuthorizeOutcome> {
    const targets = this.resolveResources(request);
    const session = await this.sessions.fromHeaders(headers);
    const user = session?.userId ? await this.users.findById(session.userId) : null;
    if (!session || !user || user.status !== 'active' || this.needsFreshLogin(request, session)) {
      if (decided)
        return errorPage(400, 'Session ended', 'Sign in again and retry from the application.');
      if (request.prompts.has('none'))
        throw new AuthorizeError('login_required', 'the user is not signed in');
      return { kind: 'redirect', location: this.loginUrl(request) };
    }
    const scopes = await this.grantableScopes(request, user, targets);
    const resources = [...targets.keys()];
    if (decided) {
      if (!this.csrf.verify(session.id, request.raw, decided.csrf)) {
        return errorPage(
          403,
          'Request refused',
          'The consent form expired or was not sent from this site.',
        );
      }
      if (decided.decision === 'deny')
        throw new AuthorizeError('access_denied', 'the user denied the request');
      await this.consents.grant(user.id, request.client.id, scopes);
      return this.issueCode(request, session, user, scopes, resources);
    }
    const remembered =
      !request.prompts.has('consent') &&
      (await this.consents.covers(user.id, request.client.id, scopes));
    if (remembered) return this.issueCode(request, session, user, scopes, resources);
    if (request.prompts.has('none'))
      throw new AuthorizeError('consent_required', 'the user has not consented');
    return {
      kind: 'consent',
      view: {
        clientName: request.client.name,
        logoUri: request.client.logoUri ?? null,
        redirectHost: new URL(request.redirectUri).host,
        redirectUri: request.redirectUri,
        userEmail: user.email,
        permissions: scopes.map((scope) => ({ scope, description: describeScope(scope) })),
        request: request.raw,
        csrf: this.csrf.issue(session.id, request.raw),
      },
    };
  }

  /** OIDC scopes as asked (offline_access only for clients that may refresh), then permissions the user holds. */
  private async grantableScopes(
    request: AuthorizationRequest,
    user: UserRecord,
    targets: ReadonlyMap<string, ResourceServer>,
  ): Promise<string[]> {
    const oidc = OIDC_ORDER.filter(
      (scope) =>
        request.scopes.includes(scope) &&
        (scope !== 'offline_access' || request.client.grantTypes.has('refresh_token')),
    );
    const wanted = request.scopes.filter((scope) => !OIDC_SCOPES.has(scope));
    let permissions: string[] = [];
    if (wanted.length > 0) {
      const resolution = resolveScopes(wanted, await this.users.permissionsOf(user));
      if (!resolution.ok) {
        throw new AuthorizeError(
          'invalid_scope',
          `the user does not hold: ${resolution.denied.join(' ')}`,
        );
      }
      // `user` expands to the user-tier permissions held, but an app gets `admin` only if an
      // admin allowed it for that client: consenting to "user" must not hand out the admin API.
      permissions = orderScopes(
        resolution.scopes.filter(
          (scope) =>
            !isUserTier(scope) || scope === 'user' || request.client.allowedScopes.includes(scope),
        ),
      );
      // With resources named, `user` expands only to the permissions one of them defines.
      if (targets.size > 0) {
        permissions = permissions.filter((scope) =>
          [...targets.values()].some((target) => scopesFor(target, [scope]).length > 0),
        );
      }
    }
    const scopes = [...oidc, ...permissions];
    if (scopes.length === 0)
      throw new AuthorizeError('invalid_scope', 'no requested scope can be granted');
    return scopes;
  }

  private needsFreshLogin(request: AuthorizationRequest, session: SessionRecord): boolean {
    if (request.prompts.has('login')) return true;
    if (request.maxAgeSeconds === null) return false;
    return Date.now() - session.authTime.getTime() > request.maxAgeSeconds * 1000;
  }

  /**
   * Back to this request after sign-in. prompt=login and max_age are dropped from the return
   * address: the sign-in they ask for is the one about to happen, and keeping them would loop.
   */
  private loginUrl(request: AuthorizationRequest): string {
    const params = new URLSearchParams(request.raw);
    params.delete('prompt');
    params.delete('max_age');
    const target = new URLSearchParams({ return_to: `/oauth/authorize?${params.toString()}` });
    if (request.loginHint) target.set('login_hint', request.loginHint);
    return `/login?${target.toString()}`;
  }

  /**
   * The registered resources the request names, by normalized identifier (RFC 8707 §2.1). Each
   * requested permission must be defined by one of them.
   */
  private resolveResources(request: AuthorizationRequest): Map<string, ResourceServer> {
    const targets = new Map<string, ResourceServer>();
    try {
      for (const resource of request.resources) {
        const target = this.resources.resolve(resource);
        targets.set(normalizeResource(target.identifier) ?? target.identifier, target);
      }
    } catch (err) {
      if (err instanceof InvalidTarget) throw new AuthorizeError('invalid_target', err.description);
      throw err;
    }
    const list = [...targets.values()];
    const outside = undefinedScopes(list, request.scopes);
    if (outside.length > 0) {
      throw new AuthorizeError('invalid_scope', describeUndefined(list, outside));
    }
    return targets;
  }

  private async issueCode(
    request: AuthorizationRequest,
    session: SessionRecord,
    user: UserRecord,
    scopes: string[],
    resources: string[],
  ): Promise<AuthorizeOutcome> {
    const code = await this.codes.issue({
      clientId: request.client.id,
      userId: user.id,
      sessionId: session.id,
      redirectUri: request.redirectUri,
      scope: scopes.join(' '),
      resources,
      nonce: request.nonce,
      codeChallenge: request.codeChallenge,
      authTime: session.authTime,
      amr: session.amr,
    });
    return this.redirect(request.redirectUri, { code, state: request.state });
  }

  /** RFC 9207: `iss` on every authorization response, success or error. */
  private redirect(redirectUri: string, params: Record<string, string | null>): AuthorizeOutcome {
    return {
      kind: 'redirect',
      location: redirectWith(redirectUri, { ...params, iss: this.config.issuer }),
    };
  }
}

/** Re-encodes form parameters, repeats included, so they go through the one validation path. */
function toQuery(form: FormParams): string {
  const query = new URLSearchParams();
  for (const [name, value] of form.values) query.append(name, value);
  for (const [name, values] of form.multi) for (const value of values) query.append(name, value);
  return query.toString();
}

function errorPage(status: number, title: string, description: string): AuthorizeOutcome {
  return { kind: 'error', status, title, description };
}

/**
 * Defence in depth on top of the CSRF token and the SameSite cookie. Our pages send
 * `Referrer-Policy: no-referrer`, under which browsers serialize the Origin of a form post as
 * `null` (Fetch §3.1, "serializing a request origin"), so `null` alone proves nothing either way;
 * Fetch Metadata (`Sec-Fetch-Site`) still tells a cross-site post apart where it is sent.
 */
function sameOriginPost(headers: IncomingHttpHeaders, ownOrigin: string): boolean {
  const origin = headers.origin;
  if (origin !== undefined && origin !== 'null' && origin !== ownOrigin) return false;
  const site = headers['sec-fetch-site'];
  return site === undefined || site === 'same-origin';
}

/** The endpoint an error answered: the authorization request itself, or the consent decision. */
function endpointOf(decided: object | null): string {
  return decided === null ? ROUTES.authorize : ROUTES.authorizeDecision;
}
