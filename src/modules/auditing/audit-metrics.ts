import { Injectable } from '@nestjs/common';

/**
 * How the last audit write ended: `stored` in the log, kept `pending` in the outbox
 * (fail-open), or `refused` (the entry could not be kept at all, so the change rolled back).
 */
export type AuditWriteState = 'stored' | 'pending' | 'refused';

/** Process-wide counters of the audit trail (reset on restart, like Prometheus counters). */
@Injectable()
export class AuditMetrics {
  /** `audit_write_failures_total`: entry inserts that failed (then kept pending or rolled back). */
  failures = 0;
  /** Entries moved from the outbox into the log by the retrier. */
  recovered = 0;
  /**
   * The last write's outcome: what /health reports while writes are failing. A success (a
   * write, the retrier moving entries, or its probe) puts it back to `stored`.
   */
  lastWrite: AuditWriteState = 'stored';
  /** When a write last failed (ISO-8601), or null. */
  lastFailureAt: string | null = null;

  stored(): void {
    this.lastWrite = 'stored';
  }

  /**
   * `failClosed`: under that policy the writes that carry changes are refused while the log
   * fails, so an entry written after the fact (a rejected attempt, a read) and kept pending
   * meanwhile says nothing about them: `refused` stays until something is stored.
   */
  failed(state: Exclude<AuditWriteState, 'stored'>, failClosed = false): void {
    this.failures++;
    if (!(failClosed && state === 'pending' && this.lastWrite === 'refused'))
      this.lastWrite = state;
    this.lastFailureAt = new Date().toISOString();
  }
}
