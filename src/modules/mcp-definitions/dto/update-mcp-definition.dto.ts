import { ApiPropertyOptional, OmitType, PartialType } from '@nestjs/swagger';
import { IsOptional } from 'class-validator';
import { CreateMcpDefinitionDto, ENV_RULES, HEADER_RULES } from './create-mcp-definition.dto';
import { IsSecretMap } from './secret-map.validator';

const PATCH_NOTE =
  'Names given are set or replaced, a name given as null is removed, names not given are kept (values are write-only: send them again to change them)';

/**
 * Any subset of the fields; each given field replaces the stored one (`args` and `tags` as a
 * whole), except the secret maps `env` and `headers`, which are patched name by name. The
 * result must still be consistent for its transport.
 */
export class UpdateMcpDefinitionDto extends PartialType(
  OmitType(CreateMcpDefinitionDto, ['env', 'headers'] as const),
) {
  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { type: 'string', nullable: true },
    description: `Environment variables. ${PATCH_NOTE}`,
    example: { API_TOKEN: 'rotated', OLD_FLAG: null },
  })
  @IsOptional()
  @IsSecretMap({ ...ENV_RULES, nullable: true })
  env?: Record<string, string | null>;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { type: 'string', nullable: true },
    description: `sse and streamable-http only: HTTP headers. ${PATCH_NOTE}`,
    example: { Authorization: 'Bearer rotated' },
  })
  @IsOptional()
  @IsSecretMap({ ...HEADER_RULES, nullable: true })
  headers?: Record<string, string | null>;
}
