import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';
import { BootstrapService, describeBootstrap } from './bootstrap/bootstrap.service.js';
import { loadConfig, type AppConfig } from './config/app-config.js';
import { ConfigError } from './config/environment.js';
import { configureLogger } from './common/logger.js';
import { openDataSource, runMigrations } from './database/data-source.js';
import { ExpiredDataCleanupService } from './lifecycle/expired-data-cleanup.service.js';
import { SigningKeysService } from './tokens/signing-keys.service.js';

const USAGE = `usage: npm run cli -- <command>

commands:
  migrate                             run pending database migrations
  bootstrap [--json] [--rotate-secret] create the admin client and first admin user (once), print them
  keys rotate                         add pending signing keys; they sign after the promotion delay
  keys revoke <kid>                   revoke a signing key now (compromise); an active one is replaced
  cleanup                             delete expired codes, tokens, sessions and challenges now
`;

async function run(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const config = loadConfig();
  // The CLI's own output is the result; routine logs go to stderr only when they matter.
  configureLogger(process.env.LOG_LEVEL ? config.logLevel : 'warn', { stderr: true });
  switch (command) {
    case 'migrate':
      return migrate(config);
    case 'bootstrap':
      return bootstrap(config, rest);
    case 'keys':
      if (rest[0] === 'rotate' && rest.length === 1) return rotateKeys(config);
      if (rest[0] === 'revoke' && rest.length === 2) return revokeKey(config, rest[1]);
      break;
    case 'cleanup':
      if (rest.length === 0) return cleanup(config);
      break;
    default:
      break;
  }
  process.stderr.write(USAGE);
  return 2;
}

async function migrate(config: AppConfig): Promise<number> {
  const ds = await openDataSource(config);
  try {
    const applied = await runMigrations(ds);
    process.stdout.write(
      applied.length === 0 ? 'database is up to date\n' : `applied: ${applied.join(', ')}\n`,
    );
    return 0;
  } finally {
    await ds.destroy();
  }
}

async function bootstrap(config: AppConfig, flags: string[]): Promise<number> {
  const unknown = flags.filter((flag) => flag !== '--json' && flag !== '--rotate-secret');
  if (unknown.length > 0) {
    process.stderr.write(`unknown option: ${unknown.join(' ')}\n${USAGE}`);
    return 2;
  }
  return withContext(config, async (get) => {
    const result = await get(BootstrapService).run({
      rotateSecret: flags.includes('--rotate-secret'),
    });
    if (flags.includes('--json')) {
      const { issuer, client_id, client_secret, setup_url } = result;
      process.stdout.write(JSON.stringify({ issuer, client_id, client_secret, setup_url }) + '\n');
    } else {
      process.stdout.write(describeBootstrap(result, config.audiences.admin) + '\n');
    }
    return 0;
  });
}

async function rotateKeys(config: AppConfig): Promise<number> {
  return withContext(config, async (get) => {
    const keys = await get(SigningKeysService).rotate('cli');
    process.stdout.write(JSON.stringify({ rotated: keys }, null, 2) + '\n');
    return 0;
  });
}

async function revokeKey(config: AppConfig, kid: string): Promise<number> {
  return withContext(config, async (get) => {
    const { revoked, replacement } = await get(SigningKeysService).revoke(kid, 'cli');
    process.stdout.write(JSON.stringify({ revoked, replacement }, null, 2) + '\n');
    return 0;
  });
}

/** One run of the expired-data cleanup job, as JSON: `done` with counts per table, or `skipped`. */
async function cleanup(config: AppConfig): Promise<number> {
  return withContext(config, async (get) => {
    const result = await get(ExpiredDataCleanupService).removeExpired();
    process.stdout.write(JSON.stringify(result) + '\n');
    return 0;
  });
}

type Getter = <T>(type: abstract new (...args: never[]) => T) => T;

async function withContext(
  config: AppConfig,
  body: (get: Getter) => Promise<number>,
): Promise<number> {
  const context = await NestFactory.createApplicationContext(AppModule.forRoot(config), {
    logger: false,
  });
  try {
    return await body((type) => context.get(type));
  } finally {
    await context.close();
  }
}

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof ConfigError) {
      process.stderr.write(`latchkey: invalid configuration: ${err.message}\n`);
    } else {
      process.stderr.write(`latchkey: ${err instanceof Error ? err.message : String(err)}\n`);
    }
    process.exit(1);
  },
);
