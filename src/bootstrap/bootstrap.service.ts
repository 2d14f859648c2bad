import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { ClientsErrorCode } from '../clients/clients.errors.js';
import { ClientsService } from '../clients/clients.service.js';
import { DomainError } from '../common/admin-errors.js';
import { UsersService } from '../users/users.service.js';
import { SetupTokensService } from '../webauthn/setup-tokens.service.js';

/** The admin service client has a fixed id, so bootstrap can find it again. */
export const ADMIN_CLIENT_ID = 'latchkey-admin';

export interface BootstrapResult {
  issuer: string;
  client_id: string;
  /** Shown only when the client was created or its secret rotated by this run. */
  client_secret: string | null;
  /** The first admin user's one-time passkey enrollment link; only when this run created it. */
  setup_url: string | null;
  created: boolean;
}

@Injectable()
export class BootstrapService {
  constructor(
    private readonly config: AppConfig,
    private readonly clients: ClientsService,
    private readonly users: UsersService,
    private readonly setupTokens: SetupTokensService,
  ) {}

  /** Creates what is missing; creates nothing on later runs unless asked to rotate the secret. */
  async run(options: { rotateSecret?: boolean } = {}): Promise<BootstrapResult> {
    const client = await this.ensureAdminClient(options.rotateSecret ?? false);
    const setupUrl = await this.ensureAdminUser();
    return {
      issuer: this.config.issuer,
      client_id: ADMIN_CLIENT_ID,
      client_secret: client.secret,
      setup_url: setupUrl,
      created: client.created || setupUrl !== null,
    };
  }

  /** The admin client's secret when this run created the client or rotated its secret. */
  private async ensureAdminClient(
    rotateSecret: boolean,
  ): Promise<{ secret: string | null; created: boolean }> {
    try {
      const created = await this.clients.create(
        {
          client_name: 'Latchkey admin',
          client_type: 'confidential',
          grant_types: ['client_credentials'],
          service_account_roles: ['admin'],
          allowed_scopes: ['admin'],
        },
        { id: ADMIN_CLIENT_ID },
      );
      return { secret: created.client_secret ?? null, created: true };
    } catch (err) {
      if (!(err instanceof DomainError) || err.code !== ClientsErrorCode.ClientIdTaken) throw err;
    }
    if (!rotateSecret) return { secret: null, created: false };
    const rotated = await this.clients.rotateSecret(ADMIN_CLIENT_ID);
    return { secret: rotated.client_secret, created: false };
  }

  /**
   * A first admin user (ADMIN_EMAIL) when no user holds the admin role, and a setup link to
   * enroll their passkey. An existing user with that email is given the admin role instead.
   */
  private async ensureAdminUser(): Promise<string | null> {
    if (await this.users.anyWithRole('admin')) return null;
    const email = this.config.bootstrap.adminEmail;
    const existing = await this.users.findByEmail(email);
    const userId =
      existing === null
        ? (
            await this.users.create({
              email,
              display_name: 'Administrator',
              roles: ['user', 'admin'],
            })
          ).id
        : (
            await this.users.update(existing.id, {
              roles: [...new Set([...existing.roles, 'admin'])],
            })
          ).id;
    return (await this.setupTokens.issue(userId)).setup_url;
  }
}

/** The bootstrap result for a person reading a terminal. */
export function describeBootstrap(result: BootstrapResult, adminAudience: string): string {
  const lines = [
    '',
    'Latchkey is ready.',
    `  Issuer:               ${result.issuer}`,
    `  Admin client id:      ${result.client_id}`,
  ];
  if (result.client_secret !== null) {
    lines.push(
      `  Admin client secret:  ${result.client_secret}`,
      '  (shown once: store it now; rotate with `npm run cli -- bootstrap --rotate-secret`)',
      '',
      '  Get an admin token:',
      `    curl -s -u '${result.client_id}:${result.client_secret}' \\`,
      `      -d grant_type=client_credentials -d scope=admin \\`,
      `      --data-urlencode resource=${adminAudience} ${result.issuer}/oauth/token`,
    );
  } else {
    lines.push(
      '  Admin client secret:  (already issued; rotate with `npm run cli -- bootstrap --rotate-secret`)',
    );
  }
  if (result.setup_url !== null) {
    lines.push(
      '',
      '  First admin user created. Open this one-time link to enroll their passkey:',
      `    ${result.setup_url}`,
      '  (it expires; issue a new one with POST /admin/users/{id}/setup-link)',
    );
  }
  lines.push('');
  return lines.join('\n');
}
