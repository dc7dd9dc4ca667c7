import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { loadEnv } from './src/config/env';
import { dataSourceOptions } from './src/database/data-source-options';

/**
 * The DataSource of the plain TypeORM CLI (`npx typeorm -d dist/ormconfig.js ...`):
 * DATABASE_MIGRATION_URL (the owner) or else DATABASE_URL, from the environment or `.env`. `npm run migration:*` uses the same options and also
 * provisions the embedded PostgreSQL when DATABASE_URL is unset (src/database/migration-cli.ts).
 */
const env = loadEnv();
export default new DataSource(
  dataSourceOptions({ url: env.DATABASE_MIGRATION_URL ?? env.DATABASE_URL ?? '' }),
);
