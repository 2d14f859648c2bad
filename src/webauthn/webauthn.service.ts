import { Injectable } from '@nestjs/common';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { IncomingHttpHeaders } from 'node:http';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service.js';
import { AppConfig } from '../config/app-config.js';
import { readCookie, serializeCookie } from '../common/cookies.js';
import { logger } from '../common/logger.js';
import { SessionsService } from '../sessions/sessions.service.js';
import type { UserRecord } from '../users/user-record.js';
import { UsersService } from '../users/users.service.js';
import { ChallengesService } from './challenges.service.js';
import { isUsablePublicKey } from './credential-public-key.js';
import type { AuthenticationResultDto, RegistrationResultDto } from './dto/ceremony-result.dto.js';
import { PasskeyLockout } from './passkey-lockout.js';
import { PasskeysService } from './passkeys.service.js';
import { safeReturnTo } from './return-to.js';
import { SetupTokensService } from './setup-tokens.service.js';
import { WebauthnError, WebauthnErrorCode } from './webauthn.errors.js';

/** The response of an options call: the JSON for the browser, and the ceremony cookie. */
export interface CeremonyStart<Options> {
  options: Options;
  setCookie: string;
}

/** A verify call's result and the cookies to set (session, cleared ceremony). */
export interface CeremonyEnd<Result> {
  result: Result;
  setCookies: string[];
}

const TRANSPORTS = new Set(['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb']);
/** RFC 8176 §2: proof of a WebAuthn key, with user verification ("user"). */
const PASSKEY_AMR = ['webauthn', 'user'];

/**
 * Passkey ceremonies. The ceremony id travels in an HttpOnly, SameSite=Strict cookie scoped to
 * /webauthn, so the request and response bodies are exactly @simplewebauthn's JSON shapes, and
 * a ceremony cannot be completed from another browser (login CSRF).
 */
@Injectable()
export class WebauthnService {
  constructor(
    private readonly config: AppConfig,
    private readonly challenges: ChallengesService,
    private readonly passkeys: PasskeysService,
    private readonly setupTokens: SetupTokensService,
    private readonly sessions: SessionsService,
    private readonly users: UsersService,
    private readonly audit: AuditService,
    private readonly lockout: PasskeyLockout,
    private readonly dataSource: DataSource,
  ) {}

  get ceremonyCookieName(): string {
    return this.config.sessions.secureCookie ? '__Secure-lk_webauthn' : 'lk_webauthn';
  }

  /** Enrollment, with a setup link's token or as the signed-in user adding a passkey. */
  async registrationOptions(
    headers: IncomingHttpHeaders,
    setupToken: string | undefined,
  ): Promise<CeremonyStart<PublicKeyCredentialCreationOptionsJSON>> {
    let user: UserRecord;
    let setupTokenId: string | null = null;
    if (setupToken !== undefined) {
      const grant = await this.setupTokens.check(setupToken);
      user = grant.user;
      setupTokenId = grant.tokenId;
    } else {
      const session = await this.sessions.requireUserSession(headers);
      user = await this.activeUser(session.userId);
    }
    const existing = await this.passkeys.descriptorsOf(user.id);
    const options = await generateRegistrationOptions({
      rpName: this.config.webauthn.rpName,
      rpID: this.config.webauthn.rpId,
      userName: user.email,
      userDisplayName: user.displayName,
      // The user handle is the opaque user id: no personal data is stored on the authenticator.
      userID: new TextEncoder().encode(user.id),
      attestationType: 'none',
      timeout: this.config.webauthn.challengeTtlSeconds * 1000,
      excludeCredentials: existing.map((credential) => ({
        id: credential.id,
        transports: credential.transports,
      })),
      authenticatorSelection: {
        residentKey: 'required',
        requireResidentKey: true,
        userVerification: 'required',
      },
    });
    const id = await this.challenges.create({
      ceremony: 'registration',
      challenge: options.challenge,
      userId: user.id,
      setupTokenId,
    });
    return { options, setCookie: this.ceremonyCookie(id) };
  }

  async verifyRegistration(
    headers: IncomingHttpHeaders,
    response: RegistrationResponseJSON,
  ): Promise<CeremonyEnd<RegistrationResultDto>> {
    const challenge = await this.challenges.consume(this.ceremonyId(headers), 'registration');
    if (challenge.user_id === null) throw failed('the ceremony has no user');
    const user = await this.activeUser(challenge.user_id);
    if (challenge.setup_token_id === null) {
      // Started by a signed-in user: it must be the same user, still signed in.
      const session = await this.sessions.requireUserSession(headers);
      if (session.userId !== user.id) throw failed('the ceremony belongs to another user');
    }
    // Checked before anything is stored or spent: a bad value must not fail after the setup link.
    const transports = transportsOf(response);
    const verification = await verify(() =>
      verifyRegistrationResponse({
        response,
        expectedChallenge: challenge.challenge,
        expectedOrigin: challenge.origin,
        expectedRPID: challenge.rp_id,
        requireUserVerification: true,
      }),
    );
    if (!verification.verified) throw failed('the passkey could not be verified');
    const info = verification.registrationInfo;
    if (!isUsablePublicKey(info.credential.publicKey)) {
      throw failed('the passkey public key is malformed');
    }
    // Spending the link and storing the passkey commit together: a refused insert (the
    // credential is already registered) rolls the link back, so it can still enroll a passkey.
    const setupTokenId = challenge.setup_token_id;
    const passkey = await this.dataSource.transaction(async (manager) => {
      if (setupTokenId !== null) await this.setupTokens.consume(setupTokenId, user.id, manager);
      const inserted = await this.passkeys.insert(
        {
          id: info.credential.id,
          userId: user.id,
          publicKey: info.credential.publicKey,
          signCount: info.credential.counter,
          transports,
          deviceType: info.credentialDeviceType,
          backedUp: info.credentialBackedUp,
          aaguid: info.aaguid,
          name: `Passkey (${new Date().toISOString().slice(0, 10)})`,
        },
        manager,
      );
      if (inserted === null) {
        throw new WebauthnError(
          WebauthnErrorCode.CredentialAlreadyRegistered,
          'this passkey is already registered',
        );
      }
      return inserted;
    });
    // The credential id names the passkey; its public key stays out of the trail.
    this.audit.record({
      type: 'passkey.enrolled',
      userId: user.id,
      actor: { type: 'user', id: user.id },
      details: {
        credential_id: passkey.id,
        via: challenge.setup_token_id === null ? 'account' : 'setup_link',
        device_type: info.credentialDeviceType,
      },
    });
    return {
      result: {
        verified: true,
        passkey,
        redirect: challenge.setup_token_id === null ? '/account' : '/login?enrolled=1',
      },
      setCookies: [this.clearCeremonyCookie()],
    };
  }

  /** Usernameless sign-in: no allowCredentials; the discoverable credential names the user. */
  async authenticationOptions(): Promise<CeremonyStart<PublicKeyCredentialRequestOptionsJSON>> {
    const options = await generateAuthenticationOptions({
      rpID: this.config.webauthn.rpId,
      userVerification: 'required',
      timeout: this.config.webauthn.challengeTtlSeconds * 1000,
    });
    const id = await this.challenges.create({
      ceremony: 'authentication',
      challenge: options.challenge,
      userId: null,
      setupTokenId: null,
    });
    return { options, setCookie: this.ceremonyCookie(id) };
  }

  async verifyAuthentication(
    headers: IncomingHttpHeaders,
    response: AuthenticationResponseJSON,
    returnTo: string | undefined,
  ): Promise<CeremonyEnd<AuthenticationResultDto>> {
    const attempt: { userId: string | null } = { userId: null };
    await this.lockout.assertOpen(response.id);
    try {
      const end = await this.signIn(headers, response, returnTo, attempt);
      this.audit.record({
        type: 'user.signed_in',
        userId: attempt.userId,
        actor: { type: 'user', id: attempt.userId },
        details: { method: 'passkey', credential_id: response.id },
      });
      return end;
    } catch (err) {
      if (err instanceof WebauthnError) {
        // The reason code only: the message can quote what the browser sent.
        this.audit.record({
          type: 'user.sign_in_failed',
          userId: attempt.userId,
          actor: { type: 'user', id: attempt.userId },
          details: { method: 'passkey', reason: err.code },
        });
        await this.lockout.failed(response.id, err.code, attempt.userId);
      }
      throw err;
    }
  }

  private async signIn(
    headers: IncomingHttpHeaders,
    response: AuthenticationResponseJSON,
    returnTo: string | undefined,
    attempt: { userId: string | null },
  ): Promise<CeremonyEnd<AuthenticationResultDto>> {
    const challenge = await this.challenges.consume(this.ceremonyId(headers), 'authentication');
    const credential = await this.passkeys.findForAuthentication(response.id);
    if (credential === null) {
      throw new WebauthnError(
        WebauthnErrorCode.UnknownCredential,
        'this passkey is not registered here; it may have been removed',
      );
    }
    attempt.userId = credential.userId;
    const user = await this.activeUser(credential.userId);
    const userHandle = response.response.userHandle;
    if (userHandle !== undefined && userHandle !== '' && userHandle !== userHandleOf(user.id)) {
      throw failed('the passkey does not belong to this account');
    }
    const verification = await verify(() =>
      verifyAuthenticationResponse({
        response,
        expectedChallenge: challenge.challenge,
        expectedOrigin: challenge.origin,
        expectedRPID: challenge.rp_id,
        // The counter is checked below, atomically with its update, so the library skips it.
        credential: {
          id: credential.id,
          publicKey: credential.publicKey,
          counter: 0,
          transports: credential.transports,
        },
        requireUserVerification: true,
      }),
    );
    if (!verification.verified) throw failed('the passkey could not be verified');
    const info = verification.authenticationInfo;
    if (!(await this.passkeys.recordUse(credential.id, info.newCounter, info.credentialBackedUp))) {
      // W3C WebAuthn §6.1.1: a counter that does not advance hints at a cloned authenticator.
      logger.warn(
        { userId: user.id, credentialId: credential.id },
        'passkey signature counter did not advance; possible cloned authenticator',
      );
      throw new WebauthnError(
        WebauthnErrorCode.CounterRegression,
        'this passkey reported a stale signature counter and was refused',
      );
    }
    const previous = await this.sessions.fromHeaders(headers);
    if (previous !== null && previous.userId !== user.id) await this.sessions.revoke(previous.id);
    const { setCookie } = await this.sessions.create({
      userId: user.id,
      amr: PASSKEY_AMR,
      userAgent: typeof headers['user-agent'] === 'string' ? headers['user-agent'] : undefined,
    });
    return {
      result: { verified: true, redirect: safeReturnTo(returnTo, this.config.issuer) },
      setCookies: [setCookie, this.clearCeremonyCookie()],
    };
  }

  private async activeUser(userId: string): Promise<UserRecord> {
    const user = await this.users.findById(userId);
    if (user === null || user.status !== 'active') {
      throw new WebauthnError(WebauthnErrorCode.UserDisabled, 'this account is disabled');
    }
    return user;
  }

  private ceremonyId(headers: IncomingHttpHeaders): string | null {
    return readCookie(headers, this.ceremonyCookieName);
  }

  private ceremonyCookie(id: string): string {
    return serializeCookie(this.ceremonyCookieName, id, {
      maxAgeSeconds: this.config.webauthn.challengeTtlSeconds,
      secure: this.config.sessions.secureCookie,
      path: '/webauthn',
      sameSite: 'Strict',
    });
  }

  private clearCeremonyCookie(): string {
    return serializeCookie(this.ceremonyCookieName, '', {
      maxAgeSeconds: 0,
      secure: this.config.sessions.secureCookie,
      path: '/webauthn',
      sameSite: 'Strict',
    });
  }
}

/** The user handle sent at registration, base64url: how the authenticator names the user. */
function userHandleOf(userId: string): string {
  return Buffer.from(userId, 'utf8').toString('base64url');
}

/** @simplewebauthn reports a failed check by throwing; its message says which check failed. */
async function verify<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    // A runtime error inside the library means a member was missing or of the wrong type: its
    // message names library internals, so the client gets a plain description instead.
    const internal =
      err instanceof TypeError ||
      err instanceof RangeError ||
      err instanceof SyntaxError ||
      err instanceof ReferenceError;
    throw failed(
      err instanceof Error && !internal ? err.message : 'the passkey response is malformed',
    );
  }
}

/**
 * WebAuthn Level 3 §5.2.1: getTransports() is a sequence of strings. Anything else did not come
 * from a browser; unknown transport names are dropped, as the spec asks of relying parties.
 */
function transportsOf(response: RegistrationResponseJSON): string[] {
  const transports: unknown = response.response.transports;
  if (transports === undefined || transports === null) return [];
  if (!Array.isArray(transports) || !transports.every((t) => typeof t === 'string')) {
    throw failed('response.transports must be an array of strings');
  }
  return transports.filter((t: string) => TRANSPORTS.has(t));
}

function failed(message: string): WebauthnError {
  return new WebauthnError(WebauthnErrorCode.VerificationFailed, message);
}
