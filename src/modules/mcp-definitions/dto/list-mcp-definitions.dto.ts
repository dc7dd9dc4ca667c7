import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import { PageQueryDto } from '@/common/pagination/page-query.dto';
import { TRANSPORTS, type Transport } from '../entities/mcp-definition.entity';
import { TAG_PATTERN } from './create-mcp-definition.dto';

export class ListMcpDefinitionsDto extends PageQueryDto {
  @ApiPropertyOptional({ description: 'Names starting with this prefix' })
  @IsOptional()
  @IsString()
  @MaxLength(100)
  name?: string;

  @ApiPropertyOptional({ description: 'Definitions carrying this tag' })
  @IsOptional()
  @Matches(TAG_PATTERN, { message: 'tag must be 1-50 characters of a-z, 0-9, ".", "_", "-"' })
  tag?: string;

  @ApiPropertyOptional({ enum: TRANSPORTS })
  @IsOptional()
  @IsIn(TRANSPORTS)
  transport?: Transport;
}
