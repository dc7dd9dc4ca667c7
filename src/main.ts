import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import pino from 'pino';
import { AppModule } from './app.module';
import { configureApp, createAdapter } from './bootstrap';
import { loadEnv } from './config/env';
import { provisionDatabase } from './database/provision';
import { Lifecycle } from './lifecycle';

async function main(): Promise<void> {
  const env = loadEnv();
  const log = pino({ level: env.LOG_LEVEL, base: { context: 'Bootstrap' } });
  // Signals are ours from the first moment: Nest closes first, then PostgreSQL.
  const lifecycle = new Lifecycle(env.SHUTDOWN_TIMEOUT_MS, log);

  const db = await provisionDatabase(env, (message, level = 'info') => log[level](message));
  if (db.embedded) lifecycle.add('embedded PostgreSQL', (ms) => db.embedded!.stop(ms));

  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot({ databaseUrl: db.url, migrationUrl: db.migrationUrl, config: env }),
    createAdapter({
      bodyLimit: env.BODY_LIMIT_BYTES,
      requestTimeoutMs: env.REQUEST_TIMEOUT_MS,
      idleTimeoutMs: env.CONNECTION_IDLE_TIMEOUT_MS,
    }),
    { bufferLogs: true },
  );
  lifecycle.add('HTTP server', () => app.close());
  await configureApp(app);
  await app.listen({ port: env.PORT, host: env.HOST });

  const url = `http://${env.HOST === '0.0.0.0' ? 'localhost' : env.HOST}:${env.PORT}`;
  log.info(`MCP Backend ready on ${url}/api/v1 — API docs at ${url}/docs`);
}

main().catch((error: unknown) => {
  // A bad configuration or a database that cannot start: say why, in one JSON line (the
  // configuration may be what failed, so at the default level), and stop.
  pino({ base: { context: 'Bootstrap' } }).fatal(
    `Failed to start: ${error instanceof Error ? error.message : String(error)}`,
  );
  void Lifecycle.current?.shutdown('startup failure').finally(() => process.exit(1));
  if (!Lifecycle.current) process.exit(1);
});
