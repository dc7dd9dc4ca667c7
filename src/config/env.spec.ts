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
});
