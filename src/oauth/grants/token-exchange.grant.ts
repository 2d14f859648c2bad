import { TrustedIssuersService } from '../../trusted-issuers/trusted-issuers.service.js';
import { Injectable } from '@nestjs/common';
import { jwtVerify, type JWTHeaderParameters } from 'jose';
import { AuditService } from '../../audit/audit.service.js';
import type { ClientRecord } from '../../clients/client-record.js';
import {
  InvalidGrant,
  InvalidRequest,
  InvalidScope,
  InvalidTarget,
  UnauthorizedClient,
} from '../../common/oauth-errors.js';
import { AppConfig } from '../../config/app-config.js';
import { scopesFor } from '../../resources/resource-server.js';
import { normalizeResource, ResourcesService } from '../../resources/resources.service.js';
import type { ResourceServer } from '../../resources/resources.service.js';
import { AccessTokensService, looksLikeJwt } from '../../tokens/access-tokens.service.js';
import { SigningKeysService } from '../../tokens/signing-keys.service.js';
import { TokenFamiliesService } from '../../tokens/token-families.service.js';
import { parseScope, permissionsOfRoles } from '../../users/permissions.js';
import { requireParam } from '../form-rules.js';
import type { GrantContext, TokenGrant, TokenResponse } from './token-grant.js';

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
export const ID_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id_token';
/** RFC 8693 §3: a JWT from a trusted issuer (another identity provider). */
export const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';

const TOKEN_TYPES: ReadonlySet<string> = new Set([
  ACCESS_TOKEN_TYPE,
  ID_TOKEN_TYPE,
  JWT_TOKEN_TYPE,
]);
/** Tolerated clock difference, as for access tokens. */
const CLOCK_TOLERANCE_SECONDS = 5;

/** What the exchange needs of a verified subject or actor token. */
interface PresentedToken {
  sub: string;
  exp: number;
  scope: string[];
  /** The client the token was issued to (access tokens: client_id; ID tokens: azp). */
  clientId: string | null;
  /** A client_credentials token: the client is its own subject. */
  isClientToken: boolean;
  jti: string | null;
  sid: string | null;
  act: Record<string, unknown> | null;
  mayAct: unknown;
}

/**
 * RFC 8693 token exchange. A confidential client trades a Latchkey access or ID token (the
 * subject) for an access token to another registered resource, with a narrower (never wider)
 * scope and lifetime. With an actor token the result records delegation in a nested `act`
 * claim; without one (impersonation) only clients an admin allowed may exchange. The new token
 * joins the subject token's family, so revoking that family revokes it too.
 */
@Injectable()
export class TokenExchangeGrant implements TokenGrant {
  readonly grantType = TOKEN_EXCHANGE;
  readonly repeatable: ReadonlySet<string> = new Set(['resource', 'audience']);

  constructor(
    private readonly config: AppConfig,
    private readonly accessTokens: AccessTokensService,
    private readonly keys: SigningKeysService,
    private readonly families: TokenFamiliesService,
    private readonly resources: ResourcesService,
    private readonly audit: AuditService,
    private readonly trustedIssuers: TrustedIssuersService,
  ) {}

  async handle({ client, form }: GrantContext): Promise<TokenResponse> {
    if (client.type !== 'confidential') {
      throw new UnauthorizedClient('public clients cannot use token exchange');
    }
    const subjectToken = requireParam(form, 'subject_token');
    const subjectType = requireParam(form, 'subject_token_type');
    if (!TOKEN_TYPES.has(subjectType)) {
      throw new InvalidRequest('unsupported subject_token_type');
    }
    const actorToken = form.values.get('actor_token');
    const actorType = form.values.get('actor_token_type');
    if (actorToken !== undefined && actorType === undefined) {
      throw new InvalidRequest('actor_token_type is required with actor_token');
    }
    if (actorToken === undefined && actorType !== undefined) {
      throw new InvalidRequest('actor_token_type must not be sent without actor_token');
    }
    if (actorType !== undefined && !TOKEN_TYPES.has(actorType)) {
      throw new InvalidRequest('unsupported actor_token_type');
    }
    const requestedType = form.values.get('requested_token_type');
    if (requestedType !== undefined && requestedType !== ACCESS_TOKEN_TYPE) {
      throw new InvalidRequest(`requested_token_type ${requestedType} is not supported`);
    }
    const target = this.targetOf(form.values.get('resource'), form.values.get('audience'), form);
    const scopeParam = form.values.get('scope');
    const requestedScope = scopeParam === undefined ? null : parseScope(scopeParam);
    if (requestedScope === null && scopeParam !== undefined) {
      throw new InvalidScope('scope is not a space-delimited list of scope tokens');
    }
    if (actorToken === undefined && !client.mayImpersonate) {
      throw new UnauthorizedClient('the client may not impersonate');
    }

    const subject = await this.present(subjectToken, subjectType, 'subject_token', client.id);
    const actor =
      actorToken === undefined || actorType === undefined
        ? null
        : await this.present(actorToken, actorType, 'actor_token', client.id);

    let act = subject.act;
    if (actor !== null) {
      if (!mayActFor(subject.mayAct, actor.sub, actor.clientId)) {
        throw new InvalidGrant('the actor is not allowed to act for the subject');
      }
      act = { sub: actor.sub };
      if (actor.isClientToken && actor.clientId !== null) act.client_id = actor.clientId;
      if (subject.act !== null) act.act = subject.act;
    } else if (subject.mayAct !== undefined && !mayActFor(subject.mayAct, client.id, client.id)) {
      // Impersonation: the exchanging client itself is the party acting for the subject.
      throw new InvalidGrant('the actor is not allowed to act for the subject');
    }
    if (chainDepth(act) > this.config.tokens.exchangeMaxDepth) {
      throw new InvalidRequest('delegation chain is too deep');
    }

    const scope = this.scopeOf(requestedScope, subject, client, target);
    const now = Math.floor(Date.now() / 1000);
    const ttl = Math.min(
      target.accessTokenTtlSeconds ?? this.config.tokens.accessTokenTtlSeconds,
      subject.exp - now,
      actor === null ? Number.POSITIVE_INFINITY : actor.exp - now,
    );
    if (ttl <= 0) {
      throw new InvalidGrant(
        subject.exp - now <= 0 ? 'subject_token is not valid' : 'actor_token is not valid',
      );
    }
    const familyId = await this.lineageOf(subject, client.id);
    const issued = await this.accessTokens.issue({
      subject: subject.sub,
      clientId: client.id,
      audience: target.identifier,
      scope,
      ttlSeconds: ttl,
      sid: subject.sid,
      familyId: familyId ?? undefined,
      act: act ?? undefined,
    });
    this.audit.record({
      type: 'token.exchanged',
      clientId: client.id,
      userId: subject.isClientToken ? null : subject.sub,
      actor: { type: 'client', id: client.id },
      details: {
        subject: subject.sub,
        actor_chain: actorChain(act),
        client_id: client.id,
        audience: target.identifier,
        jti: issued.claims.jti,
      },
    });
    this.audit.record({
      type: 'token.issued',
      clientId: client.id,
      userId: subject.isClientToken ? null : subject.sub,
      actor: { type: 'client', id: client.id },
      details: {
        grant_type: this.grantType,
        sub: issued.claims.sub,
        scope,
        audience: target.identifier,
        jti: issued.claims.jti,
      },
    });
    return {
      access_token: issued.token,
      token_type: 'Bearer',
      expires_in: issued.expiresIn,
      scope,
      issued_token_type: ACCESS_TOKEN_TYPE,
    };
  }

  /** RFC 8693 §2.1: one target, named by `resource` (RFC 8707) or `audience`. */
  private targetOf(
    resource: string | undefined,
    audience: string | undefined,
    form: GrantContext['form'],
  ): ResourceServer {
    if (form.multi.has('resource') || form.multi.has('audience')) {
      throw new InvalidTarget('request one target per access token');
    }
    if (resource === undefined && audience === undefined) {
      throw new InvalidTarget('name the target with resource or audience');
    }
    if (
      resource !== undefined &&
      audience !== undefined &&
      (normalizeResource(resource) ?? resource) !== (normalizeResource(audience) ?? audience)
    ) {
      throw new InvalidTarget('resource and audience name different targets');
    }
    return this.resources.resolve(resource ?? audience);
  }

  /**
   * requested (default: the subject's) ∩ the subject's ∩ what the client may request, then
   * what the target defines. Asking for more than the subject carries is refused.
   */
  private scopeOf(
    requested: string[] | null,
    subject: PresentedToken,
    client: ClientRecord,
    target: ResourceServer,
  ): string {
    const carried = new Set(subject.scope);
    if (requested !== null) {
      const wider = requested.filter((scope) => !carried.has(scope));
      if (wider.length > 0) {
        throw new InvalidScope(`the subject_token does not carry: ${wider.join(' ')}`);
      }
    }
    const held = permissionsOfRoles(client.serviceRoles);
    for (const scope of client.allowedScopes) held.add(scope);
    const wanted = [...new Set(requested ?? subject.scope)].filter((scope) => held.has(scope));
    const scope = scopesFor(target, wanted);
    if (scope.length === 0) {
      throw new InvalidScope('no requested scope may be issued to this client for the target');
    }
    return scope.join(' ');
  }

  /**
   * The family the new token joins, so that revoking the subject's grant or session revokes
   * it: the subject access token's own family, or, for a subject bound to a browser session
   * but to no family (an ID token), a new family on that session. A subject whose session has
   * ended is refused.
   */
  private async lineageOf(subject: PresentedToken, clientId: string): Promise<string | null> {
    const family =
      subject.jti === null ? null : await this.families.familyOfAccessToken(subject.jti);
    if (family !== null || subject.sid === null) return family;
    const bound = await this.families.createForSession(clientId, subject.sid);
    if (bound === null) throw new InvalidGrant('subject_token is not valid');
    return bound;
  }

  /** Verifies a presented token; any failure is `invalid_grant` naming the parameter. */
  private async present(
    token: string,
    type: string,
    name: string,
    clientId: string,
  ): Promise<PresentedToken> {
    try {
      if (type === ACCESS_TOKEN_TYPE) return await this.presentAccessToken(token);
      if (type === ID_TOKEN_TYPE) return await this.presentIdToken(token);
      return await this.presentExternalToken(token, clientId);
    } catch {
      throw new InvalidGrant(`${name} is not valid`);
    }
  }

  private async presentAccessToken(token: string): Promise<PresentedToken> {
    const claims = await this.accessTokens.verify(token);
    const raw = claims as unknown as Record<string, unknown>;
    return {
      sub: claims.sub,
      exp: claims.exp,
      scope:
        typeof claims.scope === 'string' && claims.scope.length > 0 ? claims.scope.split(' ') : [],
      clientId: claims.client_id,
      isClientToken: claims.sub === claims.client_id,
      jti: claims.jti,
      sid: typeof claims.sid === 'string' ? claims.sid : null,
      act: isObject(claims.act) ? claims.act : null,
      mayAct: raw.may_act,
    };
  }

  /**
   * A JWT from a trusted issuer. The issuer named in the unverified token only picks the key
   * set; TrustedIssuersService trusts nothing before signature and claims verify, and maps the
   * subject to a local user (or keeps it external, qualified by its issuer).
   */
  private async presentExternalToken(token: string, clientId: string): Promise<PresentedToken> {
    const external = await this.trustedIssuers.verify(token, clientId);
    return {
      sub: external.userId ?? `${external.issuer}#${external.subject}`,
      exp: external.exp,
      scope: external.scope,
      clientId: null,
      isClientToken: false,
      jti: null,
      sid: null,
      act: null,
      mayAct: external.claims.may_act,
    };
  }

  /** An ID token this server issued: signature by a published `id_token` key, `iss`, `exp`. */
  private async presentIdToken(token: string): Promise<PresentedToken> {
    if (!looksLikeJwt(token)) throw new Error('malformed');
    const { payload } = await jwtVerify(
      token,
      (header: JWTHeaderParameters) => {
        const entry = header.kid ? this.keys.publicKey(header.kid) : undefined;
        if (!entry || entry.use !== 'id_token' || entry.alg !== header.alg) {
          throw new Error('unknown key');
        }
        return entry.publicKey;
      },
      {
        issuer: this.config.issuer,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ['sub', 'exp', 'iat'],
      },
    );
    if (typeof payload.sub !== 'string' || typeof payload.exp !== 'number') {
      throw new Error('malformed');
    }
    const azp = payload.azp;
    return {
      sub: payload.sub,
      exp: payload.exp,
      scope: ['openid'],
      clientId: typeof azp === 'string' ? azp : null,
      isClientToken: false,
      jti: null,
      sid: typeof payload.sid === 'string' ? payload.sid : null,
      act: null,
      mayAct: payload.may_act,
    };
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * RFC 8693 §4.4: `may_act` names who may act for the subject. Absent: anyone. Present, it must
 * be an object whose `sub` and `client_id` (those given) match the actor.
 */
function mayActFor(mayAct: unknown, sub: string, clientId: string | null): boolean {
  if (mayAct === undefined) return true;
  if (!isObject(mayAct) || (mayAct.sub === undefined && mayAct.client_id === undefined)) {
    return false;
  }
  if (mayAct.sub !== undefined && mayAct.sub !== sub) return false;
  if (mayAct.client_id !== undefined && mayAct.client_id !== clientId) return false;
  return true;
}

/** Nested `act` levels. */
function chainDepth(act: Record<string, unknown> | null): number {
  let depth = 0;
  for (let level: unknown = act; isObject(level); level = level.act) depth++;
  return depth;
}

/** The actors, current one first (the nesting order of `act`): "tool > agent". */
function actorChain(act: Record<string, unknown> | null): string | null {
  const subs: string[] = [];
  for (let level: unknown = act; isObject(level); level = level.act) {
    subs.push(typeof level.sub === 'string' ? level.sub : '?');
  }
  return subs.length === 0 ? null : subs.join(' > ');
}
