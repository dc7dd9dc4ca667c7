import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { AppModule } from '@/app.module';
import { loadEnv } from '@/config/env';
import { provisionDatabase } from '@/database/provision';
import { AuditRetentionService } from '@/modules/auditing';

/**
 * `npm run audit:retention`: one retention pass now (the months ahead created; with
 * AUDIT_RETENTION_DAYS, expired months archived and purged; see README "Retention, archives
 * and legal holds"), for a scheduler of your own (cron, a Kubernetes CronJob) with
 * AUDIT_RETENTION_INTERVAL_MS=0 in the service. Prints the pass as JSON with its duration.
 * Exit code 0, or 1 when the pass failed. Safe beside running instances: one pass at a time
 * across all of them (advisory lock); a pass that found the lock taken says `"ran": false`.
 */
async function main(): Promise<number> {
  const env = loadEnv();
  const db = await provisionDatabase(env, () => undefined);
  try {
    const app = await NestFactory.createApplicationContext(
      AppModule.forRoot({
        databaseUrl: db.url,
        migrationUrl: db.migrationUrl,
        // This process runs the one pass below and nothing else on a schedule.
        config: {
          ...env,
          AUDIT_RETENTION_INTERVAL_MS: 0,
          AUDIT_SEAL_INTERVAL_MS: 0,
          WORKFLOW_EXECUTOR: 'off',
        },
      }),
      { logger: ['error', 'warn'] },
    );
    try {
      const started = process.hrtime.bigint();
      const pass = await app.get(AuditRetentionService).run();
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      console.log(JSON.stringify({ ...pass, seconds: Number(seconds.toFixed(3)) }, null, 2));
      return 0;
    } finally {
      await app.close();
    }
  } finally {
    await db.embedded?.stop(10_000);
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
