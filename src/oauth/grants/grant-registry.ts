import { Injectable } from '@nestjs/common';
import { ClientCredentialsGrant } from './client-credentials.grant.js';
import type { TokenGrant } from './token-grant.js';

/** `grant_type` → handler. Discovery reads the supported grants from here. */
@Injectable()
export class GrantRegistry {
  private readonly grants = new Map<string, TokenGrant>();

  constructor(clientCredentials: ClientCredentialsGrant) {
    for (const grant of [clientCredentials]) this.grants.set(grant.grantType, grant);
  }

  get(grantType: string): TokenGrant | undefined {
    return this.grants.get(grantType);
  }

  supported(): string[] {
    return [...this.grants.keys()];
  }
}
