import { Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { serializeError } from '@/common/logging/logging.module';
import { LEAST_PRIVILEGE_SQL } from '@/database/least-privilege';

/**
 * Whether the service's own database role could rewrite the audit history
 * (`database.leastPrivilege` in GET /health): false with one URL for both migrations and the
 * service (the owner can disable the triggers), true with a runtime role in `mcp_app` only.
 */
@Injectable()
export class LeastPrivilegeProbe {
  private readonly logger = new Logger(LeastPrivilegeProbe.name);
  private last = false;

  constructor(private readonly dataSource: DataSource) {}

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
