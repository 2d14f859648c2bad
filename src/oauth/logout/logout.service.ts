import { Injectable } from '@nestjs/common';
import { compactVerify, decodeProtectedHeader } from 'jose';
import type { IncomingHttpHeaders } from 'node:http';
import { AuditService } from '../../audit/audit.service.js';
import { AppConfig } from '../../config/app-config.js';
import { ClientsService } from '../../clients/clients.service.js';
import type { FormParams } from '../../common/http.js';
import { SessionsError } from '../../sessions/sessions.errors.js';
import { SessionsService } from '../../sessions/sessions.service.js';
import { SigningKeysService } from '../../tokens/signing-keys.service.js';

export interface LogoutPage {
  status: number;
  title: string;
  /** The confirmation form's fields, when the user must confirm. */
  confirm: Record<string, string> | null;
  message: string;
}

export type LogoutOutcome =
  | { kind: 'redirect'; location: string; setCookie: string | null }
  | { kind: 'page'; page: LogoutPage; setCookie: string | null };

interface IdTokenHint {
  sub: string;
  aud: string;
}

/** Fields the confirmation form carries back. */
const CARRIED = ['id_token_hint', 'post_logout_redirect_uri', 'state', 'client_id'] as const;

/**
 * RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0). The session ends without a
 * question when an ID token hint shows the request comes from the signed-in user's own app;
 * otherwise the user confirms on a CSRF-protected form, so a foreign page cannot sign them out.
 * The browser returns to the client only to a post_logout_redirect_uri registered for it.
 */
@Injectable()
export class LogoutService {
  constructor(
    private readonly config: AppConfig,
    private readonly keys: SigningKeysService,
    private readonly clients: ClientsService,
    private readonly sessions: SessionsService,
    private readonly audit: AuditService,
  ) {}

  async logout(
    params: FormParams,
    headers: IncomingHttpHeaders,
    posted: boolean,
  ): Promise<LogoutOutcome> {
    if (params.multi.size > 0) return invalid('A parameter of the sign-out request is repeated.');
    const get = (name: string) => params.values.get(name);
    const rawHint = get('id_token_hint');
    const hint = rawHint ? await this.verifyHint(rawHint) : null;
    if (rawHint && hint === null) return invalid('The ID token hint is not valid.');
    const clientId = get('client_id');
    if (hint && clientId && hint.aud !== clientId) {
      return invalid('The ID token hint was issued to another application.');
    }
    const target = await this.returnAddress(
      get('post_logout_redirect_uri'),
      hint?.aud ?? clientId,
      get('state'),
    );
    if (target === false)
      return invalid('The post-logout redirect URI is not registered for this application.');

    const session = await this.sessions.fromHeaders(headers);
    if (session !== null) {
      const fromOwnApp = hint !== null && hint.sub === session.userId;
      if (!fromOwnApp && !(posted && this.csrfValid(headers, get('csrf')))) {
        const confirm: Record<string, string> = { csrf: this.sessions.csrfToken(headers) ?? '' };
        for (const name of CARRIED) {
          const value = get(name);
          if (value !== undefined) confirm[name] = value;
        }
        return {
          kind: 'page',
          setCookie: null,
          page: {
            status: 200,
            title: 'Sign out?',
            confirm,
            message: 'Do you want to sign out of Latchkey?',
          },
        };
      }
      await this.sessions.revoke(session.id, 'rp_logout');
      this.audit.record({
        type: 'user.signed_out',
        userId: session.userId,
        clientId: hint?.aud ?? clientId ?? null,
        actor: { type: 'user', id: session.userId },
        details: { method: 'rp_initiated', session_id: session.id },
      });
    }
    const setCookie = this.sessions.clearCookie();
    if (target !== null) return { kind: 'redirect', location: target, setCookie };
    return {
      kind: 'page',
      setCookie,
      page: { status: 200, title: 'Signed out', confirm: null, message: 'You are signed out.' },
    };
  }

  private csrfValid(headers: IncomingHttpHeaders, token: string | undefined): boolean {
    try {
      this.sessions.checkCsrf(headers, token);
      return true;
    } catch (err) {
      if (err instanceof SessionsError) return false;
      throw err;
    }
  }

  /** null: no redirect asked for; false: one was asked for but is not registered. */
  private async returnAddress(
    uri: string | undefined,
    clientId: string | undefined,
    state: string | undefined,
  ): Promise<string | null | false> {
    if (uri === undefined) return null;
    if (!clientId) return false;
    const client = clientId.length <= 512 ? await this.clients.findRecord(clientId) : null;
    if (!client || !client.postLogoutRedirectUris.includes(uri)) return false;
    const url = new URL(uri);
    if (state !== undefined) url.searchParams.append('state', state);
    return url.toString();
  }

  /**
   * An ID token this server signed. Its expiry does not matter: the hint only says which user
   * and app ask for the sign-out (RP-Initiated Logout §2).
   */
  private async verifyHint(token: string): Promise<IdTokenHint | null> {
    try {
      const { kid, alg } = decodeProtectedHeader(token);
      const key = kid ? this.keys.publicKey(kid) : undefined;
      if (!key || key.use !== 'id_token' || key.alg !== alg) return null;
      const { payload } = await compactVerify(token, key.publicKey);
      const claims = JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown>;
      const aud: unknown = Array.isArray(claims.aud) ? (claims.aud as unknown[])[0] : claims.aud;
      if (
        claims.iss !== this.config.issuer ||
        typeof claims.sub !== 'string' ||
        typeof aud !== 'string'
      ) {
        return null;
      }
      return { sub: claims.sub, aud };
    } catch {
      return null;
    }
  }
}

function invalid(message: string): LogoutOutcome {
  return {
    kind: 'page',
    setCookie: null,
    page: { status: 400, title: 'Sign-out failed', confirm: null, message },
  };
}
