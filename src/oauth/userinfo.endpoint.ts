import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { readForm, sendJson, type RawRequest, type RawResponse } from '../common/http.js';
import {
  BearerInvalidRequest,
  BearerTokenMissing,
  InsufficientScope,
  InvalidRequest,
  InvalidToken,
} from '../common/oauth-errors.js';
import type { ProtocolEndpoint } from '../common/protocol-endpoint.js';
import { ROUTES } from '../common/routes.js';
import {
  AccessTokenRejected,
  AccessTokensService,
  type TokenRejection,
} from '../tokens/access-tokens.service.js';
import { UsersService } from '../users/users.service.js';
import { rejectRepeated } from './form-rules.js';

const REJECTIONS: Record<TokenRejection, string> = {
  malformed: 'the access token is malformed',
  signature: 'the access token signature is not valid',
  issuer: 'the access token was issued by another issuer',
  audience: 'the access token is not meant for the userinfo endpoint',
  expired: 'the access token has expired',
  revoked: 'the access token has been revoked',
  type: 'the token is not an access token',
};

/** RFC 6750 §2.1 b64token. */
const BEARER = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i;

/**
 * OIDC Core §5.3 UserInfo, GET or POST. The bearer token (Authorization header, or the form
 * `access_token` of a POST, RFC 6750 §2.2) must carry `openid` and name a user. UserInfo is a
 * resource of this server itself, so it accepts tokens for the default audience (the issuer,
 * unless DEFAULT_AUDIENCE says otherwise): a token minted for another API (RFC 8707 `resource`)
 * is not accepted here. Claims follow the scopes of the token (§5.4).
 */
@Injectable()
export class UserInfoEndpoint implements ProtocolEndpoint {
  readonly path = ROUTES.userinfo;
  readonly methods = ['GET', 'POST'];

  constructor(
    private readonly config: AppConfig,
    private readonly tokens: AccessTokensService,
    private readonly users: UsersService,
  ) {}

  async handle(req: RawRequest, res: RawResponse): Promise<void> {
    const token = await this.bearerToken(req).catch(withBearerChallenge);
    sendJson(res, 200, await this.claims(token));
  }

  private async bearerToken(req: RawRequest): Promise<string> {
    const header = req.headers.authorization;
    let fromBody: string | undefined;
    if (req.method === 'POST' && req.headers['content-type'] !== undefined) {
      const form = await readForm(req, this.config.http);
      rejectRepeated(form);
      fromBody = form.values.get('access_token');
    }
    if (header !== undefined && fromBody !== undefined) {
      // RFC 6750 §2: one method per request.
      throw new InvalidRequest('send the access token in the header or the body, not both');
    }
    if (fromBody !== undefined) {
      if (fromBody.length === 0) throw new BearerTokenMissing('a bearer access token is required');
      return fromBody;
    }
    if (header === undefined) throw new BearerTokenMissing('a bearer access token is required');
    const match = BEARER.exec(header);
    if (!match) throw new InvalidRequest('the Authorization header is not a bearer token');
    return match[1];
  }

  private async claims(token: string): Promise<Record<string, unknown>> {
    let subject: string;
    let scopes: Set<string>;
    try {
      const claims = await this.tokens.verify(token, { audience: this.config.audiences.default });
      subject = claims.sub;
      scopes = new Set(typeof claims.scope === 'string' ? claims.scope.split(' ') : []);
      // A client's own token (client_credentials) has the client as subject: no user there.
      if (claims.sub === claims.client_id || claims.sid === undefined) {
        throw new InvalidToken('the access token does not identify a user');
      }
    } catch (err) {
      if (err instanceof AccessTokenRejected) throw new InvalidToken(REJECTIONS[err.reason]);
      throw err;
    }
    if (!scopes.has('openid')) {
      throw new InsufficientScope('the access token lacks the openid scope', 'openid');
    }
    const user = await this.users.findById(subject);
    if (user === null || user.status !== 'active') {
      throw new InvalidToken('the user account is not active');
    }
    const body: Record<string, unknown> = { sub: user.id };
    if (scopes.has('email')) {
      body.email = user.email;
      body.email_verified = user.emailVerified;
    }
    if (scopes.has('profile')) body.name = user.displayName;
    return body;
  }
}

/** RFC 6750 §3: a malformed request to a protected resource still gets a Bearer challenge. */
function withBearerChallenge(err: unknown): never {
  if (err instanceof InvalidRequest) throw new BearerInvalidRequest(err.description, err);
  throw err;
}
