import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from './src/database/data-source-options';

/**
 * The DataSource the TypeORM CLI uses (`npx typeorm -d dist/ormconfig.js ...`, needs
 * DATABASE_URL). `npm run migration:*` uses this same DataSource and also provisions the
 * embedded PostgreSQL when DATABASE_URL is unset (src/database/migration-cli.ts).
 */
export default new DataSource(dataSourceOptions({ url: process.env.DATABASE_URL ?? '' }));
