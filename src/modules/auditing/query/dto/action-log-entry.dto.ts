import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ACTION_TYPES,
  OUTCOMES,
  type ActionLogEntry,
  type ActionType,
  type Outcome,
} from '@/modules/auditing/audit.types';

export class ActionLogEntryDto implements ActionLogEntry {
  @ApiProperty({ example: '1024', description: 'bigint, as a string', pattern: '^[0-9]+$' })
  id: string;
  @ApiProperty({ format: 'uuid', description: 'Unique id of the event (idempotent retries)' })
  eventId: string;
  @ApiProperty({
    example: '2026-11-22T22:12:54.123456Z',
    format: 'date-time',
    description: 'Set by the database at insert (UTC, µs)',
  })
  timestamp: string;
  @ApiProperty({ example: 'user-42' })
  actorId: string;
  @ApiProperty({ enum: ACTION_TYPES })
  actionType: ActionType;
  @ApiProperty({ example: 'MCP_DEFINITION' })
  entityType: string;
  @ApiProperty({ example: '17' })
  entityId: string;
  @ApiPropertyOptional({ type: 'object', additionalProperties: true, nullable: true })
  details: Record<string, unknown> | null;
  @ApiPropertyOptional({ nullable: true, type: String })
  requestId: string | null;
  @ApiPropertyOptional({ nullable: true, type: String })
  correlationId: string | null;
  @ApiPropertyOptional({ nullable: true, type: String })
  ip: string | null;
  @ApiPropertyOptional({ nullable: true, type: String })
  userAgent: string | null;
  @ApiPropertyOptional({ nullable: true, type: String })
  method: string | null;
  @ApiPropertyOptional({ nullable: true, type: String })
  path: string | null;
  @ApiProperty({ enum: OUTCOMES, description: 'SUCCESS, or a rejected attempt (FAILURE, DENIED)' })
  outcome: Outcome;
  @ApiPropertyOptional({
    nullable: true,
    type: 'integer',
    example: 201,
    description: 'HTTP status of the request; null for system actions',
  })
  statusCode: number | null;
  @ApiProperty({ type: [String], example: ['editor'], description: 'Roles held when acting' })
  actorRoles: string[];
  @ApiProperty({
    nullable: true,
    type: String,
    pattern: '^[0-9]+$',
    description:
      'Position in the hash chain; null until the sealer has chained the entry (see verify)',
  })
  seq: string | null;
  @ApiProperty({
    nullable: true,
    type: String,
    pattern: '^[0-9a-f]{64}$',
    description:
      'SHA-256(previous hash || SHA-256(RFC 8785 form of the entry)), hex; null until sealed',
  })
  hash: string | null;
  @ApiProperty({
    nullable: true,
    type: 'integer',
    example: 1,
    description: 'The canonical form `hash` covers (fields included); null until sealed',
  })
  hashVersion: number | null;
}

export class ActionLogPageDto {
  @ApiProperty({ type: [ActionLogEntryDto] })
  items: ActionLogEntryDto[];
  @ApiProperty({ nullable: true, type: String })
  nextCursor: string | null;
}
