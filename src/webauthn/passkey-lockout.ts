import { Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service.js';
import { AppConfig } from '../config/app-config.js';
import { currentAddress } from '../rate-limits/client-address.js';
import { LockoutService, type FailureCounter } from '../rate-limits/lockout.service.js';
import { RateLimitedError, RateLimitsErrorCode } from '../rate-limits/rate-limits.errors.js';
import { WebauthnErrorCode } from './webauthn.errors.js';

/**
 * Failures that mean an assertion was really tried: an unknown credential, a bad signature,
 * challenge, origin or user handle, a stale counter. A missing or expired ceremony, or a
 * disabled account, is not a guess and does not count.
 */
const COUNTED: ReadonlySet<string> = new Set([
  WebauthnErrorCode.UnknownCredential,
  WebauthnErrorCode.VerificationFailed,
  WebauthnErrorCode.CounterRegression,
]);

/**
 * Brute-force protection of passkey sign-in. Failures count per (credential id, address) with
 * a low threshold, per credential id from all addresses with a high one (so one attacker
 * replaying a victim's credential id from one address cannot lock the victim out elsewhere),
 * and per address over all credential ids (an address cycling through ids). A lock answers 429
 * with Retry-After before the assertion is looked at.
 */
@Injectable()
export class PasskeyLockout {
  constructor(
    private readonly config: AppConfig,
    private readonly lockout: LockoutService,
    private readonly audit: AuditService,
  ) {}

  async assertOpen(credentialId: string): Promise<void> {
    const seconds = await this.lockout.lockedForSeconds(this.counters(credentialId));
    if (seconds > 0) {
      throw new RateLimitedError(
        RateLimitsErrorCode.SignInLocked,
        'passkey sign-in is locked after too many failed attempts; try again later',
        seconds,
      );
    }
  }

  /** Counts a failed assertion when it is one that counts; waits the delay; audits a new lock. */
  async failed(credentialId: string, code: string, userId: string | null): Promise<void> {
    if (!COUNTED.has(code)) return;
    const settings = this.config.bruteForce;
    const locked = await this.lockout.fail(
      this.counters(credentialId),
      settings.passkeyLockSeconds,
    );
    if (locked === null) return;
    this.audit.record({
      type: 'passkey.sign_in_locked',
      userId,
      details: {
        scope: locked.key.slice(0, locked.key.indexOf(':')),
        credential_id: credentialId,
        failures: locked.maxFailures,
        lock_seconds: settings.passkeyLockSeconds,
      },
    });
  }

  private counters(credentialId: string): FailureCounter[] {
    const settings = this.config.bruteForce;
    const counters: FailureCounter[] = [
      { key: `passkey:${credentialId}`, maxFailures: settings.passkeyMaxFailuresPerCredential },
    ];
    const address = currentAddress();
    if (address !== null) {
      counters.unshift(
        // An address holds no space, so the first space ends it.
        {
          key: `passkey-address:${address} ${credentialId}`,
          maxFailures: settings.passkeyMaxFailures,
        },
        { key: `passkey-any:${address}`, maxFailures: settings.passkeyMaxFailuresPerAddress },
      );
    }
    return counters;
  }
}
