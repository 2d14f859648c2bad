import { Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service.js';
import { TooManyRequests } from '../common/oauth-errors.js';
import { AppConfig } from '../config/app-config.js';
import { currentAddress } from '../rate-limits/client-address.js';
import { LockoutService, type FailureCounter } from '../rate-limits/lockout.service.js';

/**
 * Brute-force protection of client authentication, per presented client id, whether or not
 * such a client exists (so a lock tells an attacker nothing about which ids are real).
 *
 * Lockout as denial of service: an attacker who knows a client id could lock the real client
 * out. So failures count twice: per (client id, address) with a low threshold, which stops a
 * guesser at one address without touching the client's own traffic from elsewhere, and per
 * client id across all addresses with a much higher one (CLIENT_AUTH_MAX_FAILURES_PER_CLIENT),
 * which only a distributed attack reaches; then the client is locked everywhere for the lock
 * period, as the lesser harm than letting guessing go on.
 *
 * A locked client id gets 429 with Retry-After, not 401 invalid_client: the lock is temporary
 * and not about the credential, so a well-behaved client backs off instead of treating its
 * secret as wrong (and its operator does not rotate a good secret). The secret is not checked
 * while locked, so guessing stays impossible during the lock.
 */
@Injectable()
export class ClientAuthLockout {
  constructor(
    private readonly config: AppConfig,
    private readonly lockout: LockoutService,
    private readonly audit: AuditService,
  ) {}

  /** Throws the 429 while this client id is locked for the caller's address or everywhere. */
  async assertOpen(clientId: string): Promise<void> {
    const seconds = await this.lockout.lockedForSeconds(this.counters(clientId));
    if (seconds > 0) {
      throw new TooManyRequests(seconds, 'too many failed client authentications; retry later');
    }
  }

  /** Counts a failed authentication, waits the slow-down delay, and audits a new lock. */
  async failed(clientId: string): Promise<void> {
    const settings = this.config.bruteForce;
    const locked = await this.lockout.fail(this.counters(clientId), settings.clientAuthLockSeconds);
    if (locked === null) return;
    this.audit.record({
      type: 'client.auth_locked',
      clientId,
      details: {
        scope: locked.key.startsWith('client-auth-address:') ? 'address' : 'client',
        failures: locked.maxFailures,
        lock_seconds: settings.clientAuthLockSeconds,
      },
    });
  }

  private counters(clientId: string): FailureCounter[] {
    const settings = this.config.bruteForce;
    const counters: FailureCounter[] = [
      { key: `client-auth:${clientId}`, maxFailures: settings.clientAuthMaxFailuresPerClient },
    ];
    const address = currentAddress();
    if (address !== null) {
      counters.unshift({
        // An address holds no space, so the first space ends it whatever the client id holds.
        key: `client-auth-address:${address} ${clientId}`,
        maxFailures: settings.clientAuthMaxFailures,
      });
    }
    return counters;
  }
}
