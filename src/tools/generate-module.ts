import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { nextMigrationName } from '@/database/migration-naming';
import { formatTypeScript } from './format';
import { moduleNames, registerInAppModule } from './module-names';
import { moduleFiles } from './module-templates';

const USAGE = `usage: npm run generate:module -- <plural-kebab-name> [--singular <name>] [--root <dir>]
  e.g. npm run generate:module -- invoices
       npm run generate:module -- purchase-orders
       npm run generate:module -- people --singular person`;

/**
 * Writes an audited CRUD module in the house conventions (entity, DTOs, service, controller,
 * module, index.ts, migration, e2e spec) and registers it in src/app.module.ts.
 */
async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { singular: { type: 'string' }, root: { type: 'string' } },
  });
  if (positionals.length !== 1) throw new Error(USAGE);
  const root = resolve(values.root ?? process.cwd());
  const names = moduleNames(positionals[0], values.singular);
  const moduleDir = join(root, 'src', 'modules', names.kebab);
  if (existsSync(moduleDir)) throw new Error(`${moduleDir} exists already`);

  const appModulePath = join(root, 'src', 'app.module.ts');
  const appModule = registerInAppModule(await readFile(appModulePath, 'utf8'), names);
  const migration = await nextMigrationName(
    join(root, 'src', 'database', 'migrations'),
    names.Pascal,
  );
  const files = Object.entries(moduleFiles(names, migration));
  for (const [path] of files) {
    if (existsSync(join(root, path))) throw new Error(`${path} exists already`);
  }

  for (const [path, source] of files) {
    const file = join(root, path);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, await formatTypeScript(source, file));
    console.log(`created ${path}`);
  }
  await writeFile(appModulePath, await formatTypeScript(appModule, appModulePath));
  console.log(`updated src/app.module.ts (imports ${names.Pascal}Module)`);
  console.log(
    `\nNext: DATABASE_URL=... npx jest test/${names.kebab}.e2e-spec.ts, then add your fields ` +
      `(entity, DTOs, a new migration: npm run migration:generate -- <Name>).`,
  );
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
