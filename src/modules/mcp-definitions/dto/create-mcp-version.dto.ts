import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import { IsJsonObject, SEMVER } from '@/common/validation/validators';

export const MAX_MANIFEST_BYTES = 256 * 1024;

export class CreateMcpVersionDto {
  @ApiProperty({
    example: '1.2.0',
    description: 'Semantic version, unique per definition',
    pattern: SEMVER.source,
    maxLength: 100,
  })
  @MaxLength(100)
  @Matches(SEMVER, { message: 'version must be a semantic version such as 1.2.0 or 2.0.0-beta.1' })
  version: string;

  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    description: `The tools and capabilities this version offers (a JSON object, at most ${MAX_MANIFEST_BYTES} bytes)`,
    example: { tools: [{ name: 'read_file', description: 'Read a file' }] },
  })
  @IsJsonObject(MAX_MANIFEST_BYTES)
  manifest: Record<string, unknown>;

  @ApiPropertyOptional({ maxLength: 10000, description: 'Empty when left out' })
  @IsOptional()
  @IsString()
  @MaxLength(10000)
  changelog?: string;
}
