import { DataSource } from 'typeorm';
import { dataSourceOptions } from './data-source-options';

/**
 * Runs the pending migrations as `url`'s role (the owner) on a connection of its own, closed
 * afterwards: the service's pool, which connects as the runtime role, never holds the owner's
 * rights.
 */
export async function runMigrations(url: string): Promise<void> {
  const dataSource = new DataSource({
    ...dataSourceOptions({
      url,
      entities: false,
      poolSize: 1,
      applicationName: 'mcp-backend-migrations',
    }),
  });
  await dataSource.initialize();
  try {
    await dataSource.runMigrations({ transaction: 'each' });
  } finally {
    await dataSource.destroy();
  }
}
