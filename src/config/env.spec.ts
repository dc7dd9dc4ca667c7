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

  it('refuses a production environment without MCP_SECRETS_KEY, naming the variable', () => {
    expect(() => validateEnv({ NODE_ENV: 'production' })).toThrow(
      /MCP_SECRETS_KEY=\(hidden\): MCP_SECRETS_KEY is required when NODE_ENV=production/,
    );
    const key = Buffer.alloc(32, 7).toString('base64');
    expect(
      validateEnv({ NODE_ENV: 'production', MCP_SECRETS_KEY: key, JWT_SECRET: 'x'.repeat(32) })
        .MCP_SECRETS_KEY,
    ).toBe(key);
    // Development and test may go without: a key is generated into the data directory.
    expect(validateEnv({ NODE_ENV: 'development' }).MCP_SECRETS_KEY).toBeUndefined();
  });

  it('accepts only 32 bytes of base64 as a secrets key, and never prints it', () => {
    const short = Buffer.alloc(16, 1).toString('base64');
    expect(() => validateEnv({ MCP_SECRETS_KEY: short })).toThrow(
      /MCP_SECRETS_KEY=\(hidden\): MCP_SECRETS_KEY must be 32 random bytes in base64/,
    );
    expect(() => validateEnv({ MCP_SECRETS_KEY: short })).not.toThrow(short);
    expect(() => validateEnv({ MCP_SECRETS_NEW_KEY: 'nope' })).toThrow(
      /MCP_SECRETS_NEW_KEY=\(hidden\)/,
    );
  });
});

describe('DATABASE_MIGRATION_URL', () => {
  const owner = 'postgres://owner:s3cret@db.test/app';

  it('is read with DATABASE_URL (the owner migrates, DATABASE_URL serves)', () => {
    const env = validateEnv({
      DATABASE_URL: 'postgres://svc:pw@db.test/app',
      DATABASE_MIGRATION_URL: owner,
    });
    expect(env.DATABASE_MIGRATION_URL).toBe(owner);
  });

  it('is refused without DATABASE_URL, and never printed', () => {
    expect(() => validateEnv({ DATABASE_MIGRATION_URL: owner })).toThrow(
      /DATABASE_MIGRATION_URL=\(hidden\): needs DATABASE_URL/,
    );
    expect(() => validateEnv({ DATABASE_MIGRATION_URL: owner })).not.toThrow(/s3cret/);
    expect(() =>
      validateEnv({ DATABASE_URL: owner, DATABASE_MIGRATION_URL: 'mysql://u:s3cret@h/db' }),
    ).toThrow(
      /DATABASE_MIGRATION_URL=\(hidden\): DATABASE_MIGRATION_URL must be a postgres:\/\/ URL/,
    );
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

/** Production needs a secrets key; these tests are about identity. */
const MCP_SECRETS_KEY = Buffer.alloc(32, 7).toString('base64');

describe(`${validateEnv.name}: identity`, () => {
  it('defaults to header mode outside production, and to jwt in production', () => {
    expect(validateEnv({}).AUTH_MODE).toBe('header');
    expect(validateEnv({ NODE_ENV: 'test' }).AUTH_MODE).toBe('header');
    const prod = validateEnv({
      NODE_ENV: 'production',
      MCP_SECRETS_KEY,
      JWT_PUBLIC_KEY_FILE: '/k.pem',
    });
    expect(prod.AUTH_MODE).toBe('jwt');
    expect(prod.JWT_ALGORITHMS).toEqual(['RS256', 'ES256', 'EdDSA']);
  });

  it('refuses header mode in production unless AUTH_ALLOW_HEADER_MODE=true', () => {
    expect(() =>
      validateEnv({ NODE_ENV: 'production', MCP_SECRETS_KEY, AUTH_MODE: 'header' }),
    ).toThrow(/AUTH_MODE="header": .*AUTH_ALLOW_HEADER_MODE=true/);
    expect(
      validateEnv({
        NODE_ENV: 'production',
        MCP_SECRETS_KEY,
        AUTH_MODE: 'header',
        AUTH_ALLOW_HEADER_MODE: 'true',
      }).AUTH_MODE,
    ).toBe('header');
  });

  it('refuses jwt mode without exactly one key source, naming them', () => {
    expect(() => validateEnv({ NODE_ENV: 'production', MCP_SECRETS_KEY })).toThrow(
      /AUTH_MODE="jwt": .*exactly one of JWT_PUBLIC_KEY_FILE, JWT_SECRET, JWT_JWKS_URL \(set: none\)/,
    );
    expect(() =>
      validateEnv({
        AUTH_MODE: 'jwt',
        JWT_PUBLIC_KEY_FILE: '/k.pem',
        JWT_JWKS_URL: 'https://idp.example/jwks',
      }),
    ).toThrow(/set: JWT_PUBLIC_KEY_FILE, JWT_JWKS_URL/);
  });

  it('pins HMAC algorithms to JWT_SECRET and never to a public key', () => {
    const secret = 'x'.repeat(32);
    expect(validateEnv({ AUTH_MODE: 'jwt', JWT_SECRET: secret }).JWT_ALGORITHMS).toEqual(['HS256']);
    expect(() =>
      validateEnv({
        AUTH_MODE: 'jwt',
        JWT_PUBLIC_KEY_FILE: '/k.pem',
        JWT_ALGORITHMS: 'RS256,HS256',
      }),
    ).toThrow(/JWT_ALGORITHMS=.*need JWT_SECRET/);
    expect(() =>
      validateEnv({ AUTH_MODE: 'jwt', JWT_SECRET: secret, JWT_ALGORITHMS: 'RS256' }),
    ).toThrow(/JWT_SECRET verifies only HS/);
    expect(() => validateEnv({ AUTH_MODE: 'jwt', JWT_SECRET: 'short' })).toThrow(
      /JWT_SECRET=\(hidden\)/,
    );
    expect(() =>
      validateEnv({ AUTH_MODE: 'jwt', JWT_PUBLIC_KEY_FILE: '/k.pem', JWT_ALGORITHMS: 'none' }),
    ).toThrow(/JWT_ALGORITHMS=\["none"\]/);
  });

  it('wants an https key set in production', () => {
    expect(() =>
      validateEnv({
        NODE_ENV: 'production',
        MCP_SECRETS_KEY,
        JWT_JWKS_URL: 'http://idp.example/jwks',
      }),
    ).toThrow(/JWT_JWKS_URL=\(hidden\): must be https/);
  });

  it('reads the rate limit (0 turns it off)', () => {
    expect(validateEnv({})).toMatchObject({ RATE_LIMIT_MAX: 1000, RATE_LIMIT_WINDOW_SECONDS: 60 });
    expect(validateEnv({ RATE_LIMIT_MAX: '0' }).RATE_LIMIT_MAX).toBe(0);
    expect(() => validateEnv({ RATE_LIMIT_MAX: '-1' })).toThrow(/RATE_LIMIT_MAX="?-1"?/);
  });
});
