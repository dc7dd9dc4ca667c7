import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { NestFactory } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppModule } from '@/app.module';
import { buildOpenApiDocument, configureApp, createAdapter, serializeOpenApi } from '@/bootstrap';
import { loadEnv } from '@/config/env';
import { provisionDatabase } from '@/database/provision';

/**
 * `npm run openapi`: writes the API document to openapi.json at the repo root (committed;
 * `test/openapi-document.e2e-spec.ts` fails when it is stale). Nest builds the document from
 * the live module graph, which needs a database: DATABASE_URL, or the embedded one.
 */
async function main(): Promise<void> {
  const env = loadEnv();
  const db = await provisionDatabase(env, () => undefined);
  try {
    const app = await NestFactory.create<NestFastifyApplication>(
      AppModule.forRoot({ databaseUrl: db.url, migrationUrl: db.migrationUrl, config: env }),
      createAdapter({
        bodyLimit: env.BODY_LIMIT_BYTES,
        requestTimeoutMs: env.REQUEST_TIMEOUT_MS,
        idleTimeoutMs: env.CONNECTION_IDLE_TIMEOUT_MS,
      }),
      { logger: false },
    );
    try {
      await configureApp(app);
      const file = resolve(process.cwd(), 'openapi.json');
      await writeFile(file, serializeOpenApi(buildOpenApiDocument(app)));
      process.stdout.write(`wrote ${file}\n`);
    } finally {
      await app.close();
    }
  } finally {
    await db.embedded?.stop(10_000);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
