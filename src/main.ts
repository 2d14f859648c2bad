import 'reflect-metadata';
import cluster from 'node:cluster';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';
import { loadConfig, issuerIsUnsafe, type AppConfig } from './config/app-config.js';
import { ConfigError } from './config/environment.js';
import { configureLogger, logger } from './common/logger.js';
import { createApp } from './configure-app.js';
import { BootstrapService, describeBootstrap } from './bootstrap/bootstrap.service.js';

const WORKER_RESTART_DELAY_MS = 1000;

async function main(): Promise<void> {
  const config = readConfig();
  configureLogger(config.logLevel);
  warnAboutUnsafeDefaults(config);

  if (config.workers > 1 && cluster.isPrimary) {
    await prepareOnce(config);
    runPrimary(config);
    return;
  }
  const app = await createApp(config);
  if (cluster.isPrimary) await announceBootstrap(config, app.get(BootstrapService));
  await app.listen(config.http.port, config.http.host);
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

function runPrimary(config: AppConfig): void {
  let stopping = false;
  const fork = () => cluster.fork({ MIGRATE_ON_START: 'false' });
  for (let i = 0; i < config.workers; i++) fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    logger.error({ pid: worker.process.pid, code, signal }, 'worker exited; starting a new one');
    setTimeout(fork, WORKER_RESTART_DELAY_MS);
  });
  const stop = () => {
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  logger.info({ workers: config.workers }, 'latchkey cluster started');
}

main().catch((err: unknown) => {
  logger.fatal({ err }, 'latchkey failed to start');
  process.exit(1);
});
