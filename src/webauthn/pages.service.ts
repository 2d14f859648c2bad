import { Injectable } from '@nestjs/common';
import type { IncomingHttpHeaders } from 'node:http';
import { ConsentsService } from '../oauth/authorize/consents.service.js';
import { describeScope } from '../oauth/authorize/scope-descriptions.js';
import { SessionsService } from '../sessions/sessions.service.js';
import { UsersService } from '../users/users.service.js';
import type { LoginPageQueryDto } from './dto/account-forms.dto.js';
import { PasskeysService } from './passkeys.service.js';
import { SetupTokensService } from './setup-tokens.service.js';
import { WebauthnError, WebauthnErrorCode } from './webauthn.errors.js';

const DONE_MESSAGES: Record<string, string> = {
  renamed: 'Passkey renamed.',
  removed: 'Passkey removed.',
  access_revoked: 'Access removed. The app must ask you again before it can act for you.',
};

const DATE = new Intl.DateTimeFormat('en', { dateStyle: 'medium', timeZone: 'UTC' });

/** View models of the sign-in, setup and account pages, and the account page's form actions. */
@Injectable()
export class PagesService {
  constructor(
    private readonly sessions: SessionsService,
    private readonly users: UsersService,
    private readonly passkeys: PasskeysService,
    private readonly setupTokens: SetupTokensService,
    private readonly consents: ConsentsService,
  ) {}

  login(query: LoginPageQueryDto): object {
    return {
      title: 'Sign in',
      returnTo: query.return_to ?? '',
      notice:
        query.signed_out !== undefined
          ? 'You have signed out.'
          : query.enrolled !== undefined
            ? 'Your passkey is ready. Sign in with it now.'
            : null,
      scripts: ['login.js'],
    };
  }

  async setup(token: string): Promise<object> {
    const { user } = await this.setupTokens.check(token);
    return {
      title: 'Set up your passkey',
      email: user.email,
      displayName: user.displayName,
      setupToken: token,
      scripts: ['setup.js'],
    };
  }

  async account(headers: IncomingHttpHeaders, done: string | undefined): Promise<object> {
    const session = await this.sessions.requireUserSession(headers);
    const user = await this.users.findById(session.userId);
    if (user === null) {
      throw new WebauthnError(WebauthnErrorCode.UserDisabled, 'this account is disabled');
    }
    const { data } = await this.passkeys.listForUser(user.id);
    const granted = await this.consents.listForUser(user.id);
    const csrf = this.sessions.csrfToken(headers);
    return {
      title: 'Your account',
      email: user.email,
      displayName: user.displayName,
      csrf,
      notice: done !== undefined ? (DONE_MESSAGES[done] ?? null) : null,
      passkeys: data.map((passkey) => ({
        ...passkey,
        created: DATE.format(new Date(passkey.created_at)),
        lastUsed: passkey.last_used_at ? DATE.format(new Date(passkey.last_used_at)) : 'never',
        synced: passkey.backed_up,
        pathId: encodeURIComponent(passkey.id),
        csrf,
        removable: data.length > 1,
      })),
      onlyOne: data.length <= 1,
      apps: granted.data.map((consent) => ({
        name: consent.client_name,
        clientId: consent.client_id,
        pathId: encodeURIComponent(consent.client_id),
        permissions: consent.scopes.map(describeScope),
        since: DATE.format(new Date(consent.created_at)),
        csrf,
      })),
      scripts: ['account.js'],
    };
  }

  async rename(
    headers: IncomingHttpHeaders,
    id: string,
    form: { csrf?: string; name: string },
  ): Promise<string> {
    const session = await this.sessions.requireUserSession(headers);
    this.sessions.checkCsrf(headers, form.csrf);
    await this.passkeys.rename(session.userId, id, form.name);
    return '/account?done=renamed';
  }

  async remove(headers: IncomingHttpHeaders, id: string, form: { csrf?: string }): Promise<string> {
    const session = await this.sessions.requireUserSession(headers);
    this.sessions.checkCsrf(headers, form.csrf);
    await this.passkeys.removeOwn(session.userId, id);
    return '/account?done=removed';
  }

  /** Withdraws the user's consent for one app, with the tokens it holds for them. */
  async revokeConsent(
    headers: IncomingHttpHeaders,
    clientId: string,
    form: { csrf?: string },
  ): Promise<string> {
    const session = await this.sessions.requireUserSession(headers);
    this.sessions.checkCsrf(headers, form.csrf);
    await this.consents.revoke(session.userId, clientId, { type: 'user', id: session.userId });
    return '/account?done=access_revoked';
  }
}
