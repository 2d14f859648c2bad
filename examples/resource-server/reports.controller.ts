import { Controller, Get, UseGuards } from '@nestjs/common';
import { Principal, RequirePermissions } from '../../src/auth-guards/auth-guards.decorators.js';
import { BearerTokenGuard } from '../../src/auth-guards/bearer-token.guard.js';
import type { AccessTokenClaims } from '../../src/tokens/access-tokens.service.js';

/** The permission `GET /reports` requires: a scope the API defines in Latchkey. */
export const REPORTS_READ = 'reports:read';

/** What `GET /reports` answers: who called, as the verified access token says. */
export interface ReportsResponse {
  /** The token's subject: a user id, or the client id for client_credentials. */
  sub: string;
  client_id: string;
  scopes: string[];
  /** The owning user of a client_credentials client, for attribution only. */
  owner?: string;
  /**
   * The delegation chain of an exchanged token (RFC 8693 `act`, nested), flattened: the
   * current actor first, then whoever it acts for, and so on.
   */
  act_chain?: string[];
  reports: { id: string; title: string }[];
}

/** Flattens a nested RFC 8693 `act` claim into the actors' subjects. */
export function actChain(act: Record<string, unknown> | undefined): string[] {
  const chain: string[] = [];
  let current: unknown = act;
  while (typeof current === 'object' && current !== null && chain.length < 32) {
    const actor = current as { sub?: unknown; act?: unknown };
    chain.push(typeof actor.sub === 'string' ? actor.sub : '(unknown)');
    current = actor.act;
  }
  return chain;
}

@Controller('reports')
@UseGuards(BearerTokenGuard)
export class ReportsController {
  @Get()
  @RequirePermissions(REPORTS_READ)
  list(@Principal() principal: AccessTokenClaims): ReportsResponse {
    return {
      sub: principal.sub,
      client_id: principal.client_id,
      scopes: principal.scope ? principal.scope.split(' ') : [],
      ...(principal.owner === undefined ? {} : { owner: principal.owner }),
      ...(principal.act === undefined ? {} : { act_chain: actChain(principal.act) }),
      reports: [{ id: 'q1-2025', title: 'First quarter' }],
    };
  }
}
