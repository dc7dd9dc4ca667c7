import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = join(__dirname, '..');
const GENERATOR = join(ROOT, 'dist', 'src', 'tools', 'generate-module.js');
/** What a project copy needs to build, lint and test (node_modules is linked). */
const PROJECT_FILES = [
  'src',
  'test',
  'package.json',
  'tsconfig.json',
  'tsconfig.build.json',
  'tsconfig.test.json',
  'jest.config.js',
  'eslint.config.mjs',
  '.prettierrc',
  '.prettierignore',
  'ormconfig.ts',
  'nest-cli.json',
];

/**
 * `npm run generate:module` as a team would use it, on a scratch copy of the project: the
 * module it writes type-checks, lints, and its own e2e spec passes against the real app.
 */
describe('generate:module (e2e, child processes)', () => {
  let copy: string;

  beforeAll(async () => {
    copy = await mkdtemp(join(tmpdir(), 'mcp-generate-'));
    for (const f of PROJECT_FILES) await cp(join(ROOT, f), join(copy, f), { recursive: true });
    await symlink(join(ROOT, 'node_modules'), join(copy, 'node_modules'), 'dir');
  });
  afterAll(() => rm(copy, { recursive: true, force: true }));

  const bin = (name: string) => join(copy, 'node_modules', '.bin', name);
  const inCopy = (file: string, args: string[], env: NodeJS.ProcessEnv = process.env) =>
    run(file, args, { cwd: copy, env, maxBuffer: 16 * 1024 * 1024 });

  it('writes a registered, audited CRUD module that compiles, lints and passes its spec', async () => {
    const before = await readdir(join(copy, 'src', 'database', 'migrations'));
    const { stdout } = await inCopy(process.execPath, [GENERATOR, 'purchase-orders']);
    expect(stdout).toContain('created src/modules/purchase-orders/index.ts');

    // The migration sorts after every existing one, whatever the clock says.
    const [migration] = (await readdir(join(copy, 'src', 'database', 'migrations'))).filter(
      (f) => !before.includes(f),
    );
    expect(migration).toMatch(/^\d{13}-PurchaseOrders\.ts$/);
    const stamp = (f: string) => Number(f.split('-')[0]);
    expect(Math.max(...before.map(stamp))).toBeLessThan(stamp(migration));

    const appModule = await readFile(join(copy, 'src', 'app.module.ts'), 'utf8');
    expect(appModule).toContain(
      `import { PurchaseOrdersModule } from '@/modules/purchase-orders';`,
    );
    expect(appModule).toMatch(/imports: \[[\s\S]*PurchaseOrdersModule,[\s\S]*\],/);

    // Generating it twice is refused, and changes nothing.
    await expect(inCopy(process.execPath, [GENERATOR, 'purchase-orders'])).rejects.toMatchObject({
      stderr: expect.stringContaining('exists already'),
    });
    expect(await readFile(join(copy, 'src', 'app.module.ts'), 'utf8')).toBe(appModule);

    await inCopy(bin('tsc'), ['--noEmit', '-p', 'tsconfig.json']);
    const generated = [
      'src/modules/purchase-orders',
      'src/app.module.ts',
      `src/database/migrations/${migration}`,
      'test/purchase-orders.e2e-spec.ts',
    ];
    await inCopy(bin('eslint'), ['--max-warnings', '0', ...generated]);
    await inCopy(bin('prettier'), ['--check', ...generated]);

    // Its spec, on the same PostgreSQL server (its own template database and copies).
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DATABASE_URL: process.env.MCP_TEST_SERVER_URL,
    };
    delete env.JEST_WORKER_ID;
    const jest = await inCopy(bin('jest'), ['test/purchase-orders.e2e-spec.ts'], env).catch(
      (error: { stdout?: string; stderr?: string }) => {
        throw new Error(`the generated spec failed:\n${error.stderr}\n${error.stdout}`);
      },
    );
    expect(jest.stderr).toMatch(/Tests:\s+7 passed, 7 total/);
  }, 600_000);
});
