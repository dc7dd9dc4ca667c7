import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadEnv, validateEnv } from './env';

describe(validateEnv.name, () => {
  it('applies the documented defaults to an empty environment', () => {
    const env = validateEnv({});
    expect(env).toMatchObject({
      PORT: 3000,
      DATABASE_POOL_SIZE: 10,
      EMBEDDED_PG_DATA_DIR: './.data/postgres',
      AUDIT_FAILURE_POLICY: 'fail-open',
    });
    expect(env.DATABASE_URL).toBeUndefined();
  });

  it('converts numeric strings', () => {
    expect(validateEnv({ PORT: '8080' }).PORT).toBe(8080);
  });

  it('names every bad variable in one error', () => {
    expect(() => validateEnv({ PORT: 'eighty', LOG_LEVEL: 'loud' })).toThrow(
      /PORT="eighty"[\s\S]*LOG_LEVEL="loud"|LOG_LEVEL="loud"[\s\S]*PORT="eighty"/,
    );
  });

  it('never prints a database URL (it may hold a password)', () => {
    expect(() => validateEnv({ DATABASE_URL: 'mysql://u:secret@h/db' })).toThrow(
      /DATABASE_URL=\(hidden\)/,
    );
    expect(() => validateEnv({ DATABASE_URL: 'mysql://u:secret@h/db' })).not.toThrow(/secret/);
  });
});

describe(loadEnv.name, () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'mcp-env-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads .env from the working directory, typed and validated', () => {
    writeFileSync(
      join(dir, '.env'),
      '# a comment\nPORT=4321\nDATABASE_URL="postgres://u@db.test:5432/app"\nEMBEDDED_PG_PORT=5999\n',
    );
    expect(loadEnv({ cwd: dir, env: {} })).toMatchObject({
      PORT: 4321,
      DATABASE_URL: 'postgres://u@db.test:5432/app',
      EMBEDDED_PG_PORT: 5999,
      HOST: '0.0.0.0',
    });
  });

  it('lets the real environment win over .env', () => {
    writeFileSync(join(dir, '.env'), 'PORT=4321\nHOST=127.0.0.1\n');
    expect(loadEnv({ cwd: dir, env: { PORT: '8080' } })).toMatchObject({
      PORT: 8080,
      HOST: '127.0.0.1',
    });
  });

  it('needs no .env', () => {
    expect(loadEnv({ cwd: dir, env: { PORT: '8080' } }).PORT).toBe(8080);
  });

  it('names a bad variable from .env', () => {
    writeFileSync(join(dir, '.env'), 'LOG_LEVEL=loud\n');
    expect(() => loadEnv({ cwd: dir, env: {} })).toThrow(/LOG_LEVEL="loud"/);
  });
});
