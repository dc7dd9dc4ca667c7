import 'reflect-metadata';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { loadEnv } from '@/config/env';
import { formatTypeScript } from '@/tools/format';
import { dataSourceOptions } from './data-source-options';
import { nextMigrationName, renderMigration } from './migration-naming';
import { provisionDatabase } from './provision';

/**
 * `npm run migration:run|revert|generate [Name]` as the owner: DATABASE_MIGRATION_URL, else
 * DATABASE_URL (from the environment or `.env`), or the embedded PostgreSQL's superuser. `generate` diffs the entities against the migrated
 * schema and writes `src/database/migrations/<timestamp>-<Name>.ts`, stamped after the newest
 * migration and formatted with Prettier.
 */
async function main(): Promise<void> {
  const [command, name] = process.argv.slice(2);
  const env = loadEnv();
  const db = await provisionDatabase(env, (m) => console.error(m));
  // The same options as the app and ormconfig.ts, on the provisioned server.
  const dataSource = new DataSource(dataSourceOptions({ url: db.migrationUrl }));
  try {
    await dataSource.initialize();
    switch (command) {
      case 'run': {
        const applied = await dataSource.runMigrations({ transaction: 'each' });
        console.log(
          applied.length ? applied.map((m) => `applied ${m.name}`).join('\n') : 'up to date',
        );
        break;
      }
      case 'revert':
        await dataSource.undoLastMigration({ transaction: 'each' });
        console.log('reverted the last migration');
        break;
      case 'generate': {
        const dir = join(process.cwd(), 'src', 'database', 'migrations');
        const next = await nextMigrationName(dir, name ?? '').catch(() => {
          throw new Error('usage: migration:generate <PascalCaseName>');
        });
        await dataSource.runMigrations({ transaction: 'each' });
        const sql = await dataSource.driver.createSchemaBuilder().log();
        if (sql.upQueries.length === 0) {
          console.log('no changes between the entities and the schema');
          break;
        }
        const file = join(dir, next.fileName);
        const source = renderMigration(
          next.className,
          sql.upQueries.map((x) => x.query),
          sql.downQueries.reverse().map((x) => x.query),
        );
        await mkdir(dir, { recursive: true });
        await writeFile(file, await formatTypeScript(source, file));
        console.log(`wrote ${file}`);
        break;
      }
      default:
        throw new Error('usage: migration-cli run | revert | generate <Name>');
    }
  } finally {
    if (dataSource.isInitialized) await dataSource.destroy();
    await db.embedded?.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
