import { join } from 'node:path';
import type { DataSourceOptions } from 'typeorm';
import { TypeOrmLogger } from './typeorm-logger';

/**
 * Settings of every session the service opens (pool and side connections). The service runs
 * short, bounded queries (and streams the long reads through cursors and COPY, which run no
 * parallel plan anyway), so:
 * - no JIT: a plan whose estimate crosses jit_above_cost (a join over the partitioned log,
 *   say) would spend ~0.5 s compiling;
 * - no parallel workers: a generic plan of a `details` search (estimated at 1% of the log)
 *   started two, which took 13 ms to find the one entry that one process found in 0.3 ms.
 */
export const SESSION_OPTIONS = '-c jit=off -c max_parallel_workers_per_gather=0';

export interface DatabaseSettings {
  url: string;
  poolSize?: number;
  applicationName?: string;
  /** false: migrations only (no entity classes loaded). */
  entities?: boolean;
}

/**
 * The one description of how the app talks to PostgreSQL, shared by the Nest app,
 * `ormconfig.ts` (TypeORM CLI) and the test setup. Schema changes come from migrations only.
 */
export function dataSourceOptions(settings: DatabaseSettings): DataSourceOptions {
  return {
    type: 'postgres',
    url: settings.url,
    entities: settings.entities === false ? [] : [join(__dirname, '..', '**', '*.entity.{ts,js}')],
    migrations: [join(__dirname, 'migrations', '*.{ts,js}')],
    migrationsTableName: 'migrations',
    migrationsTransactionMode: 'each',
    synchronize: false,
    // Failed queries surface through the exception filter (a logged 500) or their caller;
    // TypeORM's own warnings (e.g. a pool error during an outage) go to our JSON log.
    logging: ['warn', 'migration'],
    logger: new TypeOrmLogger(),
    extra: {
      max: settings.poolSize ?? 10,
      application_name: settings.applicationName ?? 'mcp-backend',
      options: SESSION_OPTIONS,
    },
  };
}
