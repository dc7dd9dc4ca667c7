import { validateEnv } from './env';

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
    expect(validateEnv({ NODE_ENV: 'production', MCP_SECRETS_KEY: key }).MCP_SECRETS_KEY).toBe(key);
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
