import 'reflect-metadata';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import dataSource from '../../ormconfig';
import { validateEnv } from '@/config/env';
import { provisionDatabase } from './provision';

/**
 * `npm run migration:run|revert|generate [Name]` against DATABASE_URL or the embedded
 * PostgreSQL. `generate` diffs the entities against the migrated schema and writes
 * `src/database/migrations/<timestamp>-<Name>.ts`.
 */
async function main(): Promise<void> {
  const [command, name] = process.argv.slice(2);
  const env = validateEnv(process.env);
  const db = await provisionDatabase(env, (m) => console.error(m));
  // ormconfig.ts is the one DataSource definition; point it at the provisioned server.
  dataSource.setOptions({ url: db.url });
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
        if (!name || !/^[A-Za-z][A-Za-z0-9]*$/.test(name))
          throw new Error('usage: migration:generate <PascalCaseName>');
        await dataSource.runMigrations({ transaction: 'each' });
        const sql = await dataSource.driver.createSchemaBuilder().log();
        if (sql.upQueries.length === 0) {
          console.log('no changes between the entities and the schema');
          break;
        }
        const timestamp = Date.now();
        const q = (s: string): string => '`' + s.replace(/`/g, '\\`') + '`';
        const up = sql.upQueries.map((x) => `    await queryRunner.query(${q(x.query)});`);
        const down = sql.downQueries
          .reverse()
          .map((x) => `    await queryRunner.query(${q(x.query)});`);
        const file = join(
          process.cwd(),
          'src',
          'database',
          'migrations',
          `${timestamp}-${name}.ts`,
        );
        await mkdir(join(process.cwd(), 'src', 'database', 'migrations'), { recursive: true });
        await writeFile(
          file,
          `import type { MigrationInterface, QueryRunner } from 'typeorm';\n\n` +
            `export class ${name}${timestamp} implements MigrationInterface {\n` +
            `  public async up(queryRunner: QueryRunner): Promise<void> {\n${up.join('\n')}\n  }\n\n` +
            `  public async down(queryRunner: QueryRunner): Promise<void> {\n${down.join('\n')}\n  }\n}\n`,
        );
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
