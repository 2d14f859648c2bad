import './tracing.js';
import 'reflect-metadata';
import cluster from 'node:cluster';
import type { Server } from 'node:http';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';
import { loadConfig, issuerIsUnsafe, type AppConfig } from './config/app-config.js';
import { ConfigError } from './config/environment.js';
import { configureLogger, logger } from './common/logger.js';
import { createApp } from './configure-app.js';
import { BootstrapService, describeBootstrap } from './bootstrap/bootstrap.service.js';
import { ROLLING_RESTART_SIGNAL, runPrimary } from './cluster/cluster-primary.js';
import { drainOnRequest } from './cluster/worker-drain.js';

async function main(): Promise<void> {
  const config = readConfig();
  configureLogger(config.logLevel);
  warnAboutUnsafeDefaults(config);

  if (config.workers > 1 && cluster.isPrimary) {
    await prepareOnce(config);
    runPrimary(config.workers, { MIGRATE_ON_START: 'false' });
    return;
  }
  const app = await createApp(config);
  if (cluster.isPrimary) await announceBootstrap(config, app.get(BootstrapService));
  await app.listen(config.http.port, config.http.host);
  if (cluster.isWorker) {
    drainOnRequest(app.getHttpServer() as Server, async () => {
      await app.close();
      process.exit(0);
    });
  } else {
    // Without workers there is nothing to restart in turn; do not let the signal end the server.
    process.on(ROLLING_RESTART_SIGNAL, () =>
      logger.warn(`${ROLLING_RESTART_SIGNAL}: a rolling restart needs WORKERS > 1; ignored`),
    );
  }
  logger.info(
    { issuer: config.issuer, port: config.http.port, pid: process.pid },
    'latchkey is listening',
  );
}

function readConfig(): AppConfig {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`latchkey: invalid configuration: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}

function warnAboutUnsafeDefaults(config: AppConfig): void {
  if (issuerIsUnsafe(config)) {
    logger.warn(
      { issuer: config.issuer },
      'ISSUER uses http on a non-loopback host: use https in production',
    );
  }
  if (config.embedded && config.env === 'production') {
    logger.warn(
      'running on the embedded database: set DATABASE_URL to use PostgreSQL in production',
    );
  }
}

/** Prints the first-run bootstrap, once. The secret goes to the terminal, never to the log. */
async function announceBootstrap(config: AppConfig, bootstrap: BootstrapService): Promise<void> {
  const result = await bootstrap.run();
  if (result.created)
    process.stdout.write(describeBootstrap(result, config.audiences.admin) + '\n');
}

/** In cluster mode the primary migrates, creates keys and bootstraps before any worker starts. */
async function prepareOnce(config: AppConfig): Promise<void> {
  const context = await NestFactory.createApplicationContext(AppModule.forRoot(config), {
    logger: false,
  });
  try {
    await announceBootstrap(config, context.get(BootstrapService));
  } finally {
    await context.close();
  }
}

main().catch((err: unknown) => {
  logger.fatal({ err }, 'latchkey failed to start');
  process.exit(1);
});
