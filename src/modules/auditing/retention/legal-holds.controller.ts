import { Body, Controller, Delete, Get, HttpCode, Post } from '@nestjs/common';
import {
  ApiCreatedResponse,
  ApiOkResponse,
  ApiOperation,
  ApiProperty,
  ApiPropertyOptional,
  ApiTags,
} from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  IsISO8601,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
  MinLength,
  ValidateNested,
} from 'class-validator';
import { ApiStandardErrors, ApiUuidParam, UuidParam } from '@/common/openapi/api-errors.decorator';
import { Roles } from '@/modules/identity';
import { Audited } from '../audited.decorator';
import { ENTITY_TYPE_PATTERN, MAX_ACTOR_ID_LENGTH, MAX_ENTITY_ID_LENGTH } from '../audit.types';
import {
  LegalHoldsService,
  MAX_HOLDS_LISTED,
  type HoldFilter,
  type LegalHold,
  type LegalHoldInput,
} from './legal-holds.service';

class HoldFilterDto implements HoldFilter {
  @ApiPropertyOptional({ example: 'WORKFLOW_RUN', pattern: ENTITY_TYPE_PATTERN.source })
  @IsOptional()
  @Matches(ENTITY_TYPE_PATTERN, { message: 'filter.entityType must be an entity type' })
  entityType?: string;

  @ApiPropertyOptional({ maxLength: MAX_ENTITY_ID_LENGTH })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(MAX_ENTITY_ID_LENGTH)
  entityId?: string;

  @ApiPropertyOptional({ maxLength: MAX_ACTOR_ID_LENGTH })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(MAX_ACTOR_ID_LENGTH)
  actorId?: string;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    description: 'Entries whose details contain this object (as `?details=` of the search)',
  })
  @IsOptional()
  @IsObject()
  details?: Record<string, unknown>;
}

class CreateLegalHoldDto implements LegalHoldInput {
  @ApiProperty({ example: 'Litigation 2026-17: preserve everything about workflow 42' })
  @IsString()
  @MinLength(1)
  @MaxLength(1000)
  reason: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Covers entries from (inclusive)' })
  @IsOptional()
  @IsISO8601({ strict: true })
  from?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Covers entries until (exclusive)' })
  @IsOptional()
  @IsISO8601({ strict: true })
  to?: string;

  @ApiPropertyOptional({
    type: HoldFilterDto,
    description: 'Covers only entries matching all of these (none: every entry in the range)',
  })
  @IsOptional()
  @ValidateNested()
  @Type(() => HoldFilterDto)
  filter?: HoldFilterDto;
}

class LegalHoldDto implements LegalHold {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty() reason: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) from: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) to: string | null;
  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    nullable: true,
    description: 'As placed: `entityType`, `entityId`, `actorId`, `details` (null: none)',
  })
  filter: HoldFilter | null;
  @ApiProperty() createdBy: string;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ type: String, nullable: true }) releasedBy: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) releasedAt: string | null;
}

/** Legal holds: what the retention job must not purge (README "Retention, archives and legal holds"). */
@ApiTags('action-logs')
@Controller('action-logs/holds')
export class LegalHoldsController {
  constructor(private readonly holds: LegalHoldsService) {}

  @Post()
  @Roles('auditor')
  @Audited({ action: 'CREATE', entity: 'LEGAL_HOLD' })
  @ApiOperation({
    operationId: 'createLegalHold',
    summary: 'Place a legal hold: entries it covers are never purged while it is active',
    description:
      'Covers the entries of a time range (`from`/`to`), those matching a filter, or both; ' +
      'with neither, every entry. The retention job skips every monthly partition holding a ' +
      'covered entry, and says so in its log. Audited (LEGAL_HOLD, CREATE).',
  })
  @ApiCreatedResponse({ type: LegalHoldDto })
  @ApiStandardErrors({ body: true })
  create(@Body() body: CreateLegalHoldDto): Promise<LegalHold> {
    return this.holds.create(body);
  }

  @Get()
  @Roles('auditor')
  @ApiOperation({
    operationId: 'listLegalHolds',
    summary: `The legal holds, active ones first, newest first (at most ${MAX_HOLDS_LISTED})`,
  })
  @ApiOkResponse({ type: [LegalHoldDto] })
  @ApiStandardErrors()
  list(): Promise<LegalHold[]> {
    return this.holds.list();
  }

  @Delete(':id')
  @HttpCode(200)
  @Roles('auditor')
  @Audited({
    action: 'DELETE',
    entity: 'LEGAL_HOLD',
    details: ({ result }: { result: LegalHold }) => ({ ...result }),
  })
  @ApiOperation({
    operationId: 'releaseLegalHold',
    summary: 'Release a legal hold (its record stays, with who released it and when)',
  })
  @ApiOkResponse({ type: LegalHoldDto })
  @ApiStandardErrors({ notFound: true })
  @ApiUuidParam('id', 'The hold')
  release(@UuidParam() id: string): Promise<LegalHold> {
    return this.holds.release(id);
  }
}
