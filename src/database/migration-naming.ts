import { readdir } from 'node:fs/promises';
import { basename } from 'node:path';

/** `<milliseconds>-<PascalCaseName>.ts`, the class inside named `<Name><milliseconds>`. */
const MIGRATION_FILE = /^(\d{13})-[A-Za-z][A-Za-z0-9]*\.[cm]?[jt]s$/;
export const MIGRATION_NAME = /^[A-Z][A-Za-z0-9]*$/;

/**
 * TypeORM runs migrations in the order of the 13-digit timestamp that ends each class name,
 * so a new migration must sort after every existing one, even when the clock is behind the
 * newest (the first migrations were stamped ahead of time): max(now, newest + 1).
 */
export function nextMigrationTimestamp(existingFiles: readonly string[], now = Date.now()): number {
  const stamps = existingFiles.map((f) => Number(MIGRATION_FILE.exec(basename(f))?.[1] ?? 0));
  return Math.max(now, Math.max(0, ...stamps) + 1);
}

export interface MigrationName {
  timestamp: number;
  /** `<Name><timestamp>`: TypeORM reads the timestamp from the end of the class name. */
  className: string;
  fileName: string;
}

/** The name of the next migration in `dir` (src/database/migrations). */
export async function nextMigrationName(
  dir: string,
  name: string,
  now = Date.now(),
): Promise<MigrationName> {
  if (!MIGRATION_NAME.test(name)) {
    throw new Error(`migration name must be PascalCase (A-Z, then letters and digits): ${name}`);
  }
  const files = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[];
    throw error;
  });
  const timestamp = nextMigrationTimestamp(files, now);
  return { timestamp, className: `${name}${timestamp}`, fileName: `${timestamp}-${name}.ts` };
}

/** A migration class in the house shape (`name` set, like the hand-written ones). */
export function renderMigration(
  className: string,
  up: readonly string[],
  down: readonly string[],
): string {
  const q = (sql: string): string => '`' + sql.replace(/[`\\]|\$\{/g, (m) => '\\' + m) + '`';
  const calls = (queries: readonly string[]): string =>
    queries.map((sql) => `    await queryRunner.query(${q(sql)});`).join('\n');
  return [
    `import type { MigrationInterface, QueryRunner } from 'typeorm';`,
    ``,
    `export class ${className} implements MigrationInterface {`,
    `  name = '${className}';`,
    ``,
    `  public async up(queryRunner: QueryRunner): Promise<void> {`,
    calls(up),
    `  }`,
    ``,
    `  public async down(queryRunner: QueryRunner): Promise<void> {`,
    calls(down),
    `  }`,
    `}`,
    ``,
  ].join('\n');
}
