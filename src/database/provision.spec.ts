import { provisionDatabase } from './provision';

describe(provisionDatabase.name, () => {
  const base = { EMBEDDED_PG_DATA_DIR: './unused', EMBEDDED_PG_PORT: 0 };
  const log = () => undefined;

  it('migrates as DATABASE_MIGRATION_URL and serves as DATABASE_URL', async () => {
    const db = await provisionDatabase(
      {
        ...base,
        DATABASE_URL: 'postgres://svc@db/app',
        DATABASE_MIGRATION_URL: 'postgres://own@db/app',
      },
      log,
    );
    expect(db).toEqual({ url: 'postgres://svc@db/app', migrationUrl: 'postgres://own@db/app' });
  });

  it('does both with DATABASE_URL alone (one role)', async () => {
    const db = await provisionDatabase({ ...base, DATABASE_URL: 'postgres://own@db/app' }, log);
    expect(db).toEqual({ url: 'postgres://own@db/app', migrationUrl: 'postgres://own@db/app' });
  });
});
