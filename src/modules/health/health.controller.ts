import { Controller, Get, HttpStatus, Res, ServiceUnavailableException } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { ApiStandardErrors } from '@/common/openapi/api-errors.decorator';
import {
  HealthCheck,
  HealthCheckService,
  TypeOrmHealthIndicator,
  type HealthCheckResult,
  type HealthIndicatorResult,
} from '@nestjs/terminus';
import type { FastifyReply } from 'fastify';
import { RETRY_AFTER_SECONDS } from '@/common/errors/database-unavailable';
import { AuditHealthIndicator, AuditOutboxService, type AuditBacklog } from '@/modules/auditing';
import { Public, Roles } from '@/modules/identity';
import { LeastPrivilegeProbe } from './least-privilege.probe';

/** The document's view of `AuditBacklog` (GET /health/audit). */
class AuditBacklogDto implements AuditBacklog {
  @ApiProperty({ type: 'integer', description: 'Entries waiting in the outbox' })
  pending: number;
  @ApiProperty({ type: 'integer' }) failuresTotal: number;
  @ApiProperty({ type: 'integer' }) recoveredTotal: number;
  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  oldestPendingAt: string | null;
  @ApiProperty({ enum: ['stored', 'pending', 'refused'] })
  lastWrite: AuditBacklog['lastWrite'];
  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  lastFailureAt: string | null;
  @ApiProperty({ type: String, nullable: true }) lastError: string | null;
}

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly db: TypeOrmHealthIndicator,
    private readonly auditing: AuditHealthIndicator,
    private readonly outbox: AuditOutboxService,
    private readonly privileges: LeastPrivilegeProbe,
  ) {}

  /** The details the public answer leaves out (the last error can name database internals). */
  @Get('audit')
  @Roles('admin')
  @ApiOkResponse({ type: AuditBacklogDto })
  @ApiStandardErrors()
  @ApiOperation({
    operationId: 'getAuditHealth',
    summary: "The audit trail's backlog with its details (last error, counters): admins only",
  })
  audit(): Promise<AuditBacklog> {
    return this.outbox.backlog();
  }

  @Get()
  @Public()
  @HealthCheck()
  @ApiStandardErrors({ database: false })
  @ApiOperation({
    operationId: 'getHealth',
    summary:
      "Liveness and readiness: the database (with `leastPrivilege`: whether the service's role is unable to rewrite the audit history), and the audit trail (degraded while entries are pending, down while they cannot be written); 503 when something is down",
  })
  async check(@Res({ passthrough: true }) reply: FastifyReply): Promise<HealthCheckResult> {
    try {
      return publicView(
        await this.health.check([() => this.database(), () => this.auditing.check()]),
      );
    } catch (error) {
      // Terminus throws its report (`status: error`) as a 503: answer the report itself, so a
      // probe sees which part is down. Terminus has logged it with its messages.
      if (!(error instanceof ServiceUnavailableException)) throw error;
      void reply.status(HttpStatus.SERVICE_UNAVAILABLE);
      void reply.header('Retry-After', String(RETRY_AFTER_SECONDS));
      return publicView(error.getResponse() as HealthCheckResult);
    }
  }

  /** The ping, and while the database is up whether the service's role has least privilege. */
  private async database(): Promise<HealthIndicatorResult<'database'>> {
    const result = await this.db.pingCheck('database').withTimeout(1500);
    if (result.database.status !== 'up') return result;
    return { database: { ...result.database, leastPrivilege: await this.privileges.check() } };
  }
}

/** States and counts only: an indicator's `message` (a driver error) can name internals. */
function publicView(result: HealthCheckResult): HealthCheckResult {
  const strip = <T extends Partial<HealthIndicatorResult> | undefined>(part: T): T =>
    part &&
    (Object.fromEntries(
      Object.entries(part).map(([key, value]) => {
        const { message: _message, ...rest } = value ?? { status: 'down' };
        return [key, rest];
      }),
    ) as T);
  return {
    ...result,
    info: strip(result.info),
    error: strip(result.error),
    details: strip(result.details),
  };
}
