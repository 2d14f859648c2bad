import { Injectable } from '@nestjs/common';
import { AuthorizationCodeGrant } from './authorization-code.grant.js';
import { ClientCredentialsGrant } from './client-credentials.grant.js';
import { RefreshTokenGrant } from './refresh-token.grant.js';
import { TokenExchangeGrant } from './token-exchange.grant.js';
import type { TokenGrant } from './token-grant.js';

/** `grant_type` → handler. Discovery reads the supported grants from here. */
@Injectable()
export class GrantRegistry {
  private readonly grants = new Map<string, TokenGrant>();

  constructor(
    authorizationCode: AuthorizationCodeGrant,
    refreshToken: RefreshTokenGrant,
    clientCredentials: ClientCredentialsGrant,
    tokenExchange: TokenExchangeGrant,
  ) {
    for (const grant of [authorizationCode, refreshToken, clientCredentials, tokenExchange]) {
      this.grants.set(grant.grantType, grant);
    }
  }

  get(grantType: string): TokenGrant | undefined {
    return this.grants.get(grantType);
  }

  supported(): string[] {
    return [...this.grants.keys()];
  }
}
