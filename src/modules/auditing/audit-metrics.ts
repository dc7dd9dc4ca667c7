import { Injectable } from '@nestjs/common';

/** Process-wide counters of the audit trail (reset on restart, like Prometheus counters). */
@Injectable()
export class AuditMetrics {
  /** `audit_write_failures_total`: entry inserts that failed (then kept pending or rolled back). */
  failures = 0;
  /** Entries moved from the outbox into the log by the retrier. */
  recovered = 0;
}
