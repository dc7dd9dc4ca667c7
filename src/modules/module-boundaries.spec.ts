import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/**
 * No module reads another's tables: a module asks the owner's exported service instead
 * (import boundaries are checked by dependency-cruiser, `npm run lint:deps`; SQL text is not,
 * so this test reads it). A table belongs to the module whose entity names it.
 */
const MODULES_DIR = __dirname;

/** Tables kept without an entity of their own, by owning module. */
const TABLES_WITHOUT_ENTITY: Record<string, string[]> = { auditing: ['audit_outbox'] };

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.spec.ts') ? [path] : [];
  });
}

const modules = readdirSync(MODULES_DIR, { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => {
    const files = sourceFiles(join(MODULES_DIR, e.name)).map((path) => ({
      path,
      text: readFileSync(path, 'utf8'),
    }));
    const entityTables = files.flatMap(({ text }) =>
      [...text.matchAll(/@Entity\(\s*(?:\{\s*name:\s*)?'([a-z0-9_]+)'/g)].map((m) => m[1]),
    );
    return {
      name: e.name,
      files,
      tables: [...entityTables, ...(TABLES_WITHOUT_ENTITY[e.name] ?? [])],
    };
  });

describe('module boundaries', () => {
  it('finds the tables of each module', () => {
    const owned = Object.fromEntries(modules.map((m) => [m.name, m.tables.sort()]));
    expect(owned).toMatchObject({
      auditing: ['action_log', 'audit_outbox'],
      'mcp-definitions': ['mcp_definitions', 'mcp_versions'],
      workflows: ['workflow_definitions', 'workflow_run_steps', 'workflow_runs'],
    });
  });

  it.each(modules.map((m) => [m.name, m] as const))(
    '%s names no table of another module',
    (_, module) => {
      const foreign = modules.filter((m) => m !== module).flatMap((m) => m.tables);
      const offences = module.files.flatMap(({ path, text }) =>
        foreign
          .filter((table) => new RegExp(`\\b${table}\\b`).test(text))
          .map((table) => `${relative(MODULES_DIR, path)} names ${table}`),
      );
      expect(offences).toEqual([]);
    },
  );
});
