import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { serializeError } from '@/common/logging/logging.module';
import { LEAST_PRIVILEGE_SQL } from '@/database/least-privilege';

/**
 * Whether the service's own database role could rewrite the audit history
 * (`database.leastPrivilege` in GET /health): false with one URL for both migrations and the
 * service (the owner can disable the triggers), true with a runtime role in `mcp_app` only.
 */
@Injectable()
export class LeastPrivilegeProbe implements OnApplicationBootstrap {
  private readonly logger = new Logger(LeastPrivilegeProbe.name);
  private last = false;

  constructor(private readonly dataSource: DataSource) {}

  /** Said once at start, where an operator looks: the service could rewrite its own trail. */
  async onApplicationBootstrap(): Promise<void> {
    if (await this.check()) return;
    this.logger.warn(
      'The service runs as a database role that could rewrite the audit log (leastPrivilege: false): ' +
        'run it as a member of mcp_app and migrate with DATABASE_MIGRATION_URL (README, "Append-only and database roles")',
    );
  }

  /** Read afresh (grants can change while the service runs); the last answer if it cannot be. */
  async check(): Promise<boolean> {
    try {
      const rows: { leastPrivilege: boolean }[] = await this.dataSource.query(LEAST_PRIVILEGE_SQL);
      this.last = rows[0]?.leastPrivilege === true;
    } catch (error) {
      this.logger.warn({ err: serializeError(error) }, 'Database privileges cannot be read');
    }
    return this.last;
  }
}
