import { Controller, Get } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, TypeOrmHealthIndicator } from '@nestjs/terminus';
import { AuditHealthIndicator } from '@/modules/auditing';
import { Public } from '@/modules/identity';

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly db: TypeOrmHealthIndicator,
    private readonly auditing: AuditHealthIndicator,
  ) {}

  @Get()
  @Public()
  @HealthCheck()
  @ApiOperation({
    summary:
      'Liveness and readiness: the database, and the audit backlog (degraded while entries are pending)',
  })
  check() {
    return this.health.check([
      () => this.db.pingCheck('database').withTimeout(1500),
      () => this.auditing.check(),
    ]);
  }
}
