import { Injectable } from '@nestjs/common';
import { createHmac } from 'node:crypto';
import { AppConfig } from '../../config/app-config.js';
import { constantTimeEqual } from '../../common/crypto.js';
import { resolveMasterKey } from '../../tokens/key-encryption.js';

/**
 * CSRF tokens for the consent form: an HMAC over the browser session and the exact
 * authorization request, so a token is good for one user, one session and one request only.
 */
@Injectable()
export class ConsentCsrf {
  private readonly key: Buffer;

  constructor(config: AppConfig) {
    this.key = createHmac('sha256', resolveMasterKey(config))
      .update('latchkey consent csrf v1')
      .digest();
  }

  issue(sessionId: string, request: string): string {
    return createHmac('sha256', this.key).update(`${sessionId}\n${request}`).digest('base64url');
  }

  verify(sessionId: string, request: string, token: string | undefined): boolean {
    return token !== undefined && constantTimeEqual(this.issue(sessionId, request), token);
  }
}
