import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nextMigrationName, nextMigrationTimestamp, renderMigration } from './migration-naming';

describe(nextMigrationTimestamp.name, () => {
  const existing = [
    '1795400000000-ActionLog.ts',
    '1795600000000-Workflows.ts',
    '1795500000000-McpDefinitions.ts',
  ];

  it('sorts after the newest migration when the clock is behind it', () => {
    const today = Date.parse('2026-01-15T12:00:00Z'); // before 1795600000000 (2026-11-25)
    expect(nextMigrationTimestamp(existing, today)).toBe(1795600000001);
  });

  it('uses the clock when it is ahead of every migration', () => {
    const later = Date.parse('2027-03-01T00:00:00Z');
    expect(nextMigrationTimestamp(existing, later)).toBe(later);
  });

  it('ignores files that are not migrations, and works with none', () => {
    expect(nextMigrationTimestamp(['README.md', '9999999999999.ts'], 1000)).toBe(1000);
    expect(nextMigrationTimestamp([], 1000)).toBe(1000);
  });

  it('reads compiled migrations too', () => {
    expect(nextMigrationTimestamp(['1795600000000-Workflows.js'], 5)).toBe(1795600000001);
  });
});

describe(nextMigrationName.name, () => {
  let dir: string;
  beforeEach(async () => (dir = await mkdtemp(join(tmpdir(), 'mcp-mig-'))));
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('names the file and the class after the newest migration in the folder', async () => {
    await writeFile(join(dir, '1795600000000-Workflows.ts'), '');
    expect(await nextMigrationName(dir, 'Invoices', 1)).toEqual({
      timestamp: 1795600000001,
      className: 'Invoices1795600000001',
      fileName: '1795600000001-Invoices.ts',
    });
  });

  it('refuses a name that is not PascalCase', async () => {
    await expect(nextMigrationName(dir, 'drop table', 1)).rejects.toThrow(/PascalCase/);
    await expect(nextMigrationName(dir, '', 1)).rejects.toThrow(/PascalCase/);
  });
});

describe(renderMigration.name, () => {
  it('writes a class with its name, the queries in order, and escapes template syntax', () => {
    const source = renderMigration(
      'Invoices1795600000001',
      ['CREATE TABLE "a" ("x" text DEFAULT \'${no}\' CHECK (x <> \'`\'))'],
      ['DROP TABLE "a"'],
    );
    expect(source).toContain('export class Invoices1795600000001 implements MigrationInterface');
    expect(source).toContain("name = 'Invoices1795600000001';");
    expect(source).toContain("DEFAULT '\\${no}' CHECK (x <> '\\`')");
    expect(source).toContain('await queryRunner.query(`DROP TABLE "a"`);');
  });
});
