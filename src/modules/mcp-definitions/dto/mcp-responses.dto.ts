import { ApiProperty } from '@nestjs/swagger';
import { TRANSPORTS, type Transport } from '../entities/mcp-definition.entity';

export class McpDefinitionDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ example: 'filesystem' }) name: string;
  @ApiProperty() description: string;
  @ApiProperty({ enum: TRANSPORTS }) transport: Transport;
  @ApiProperty({ nullable: true, type: String }) command: string | null;
  @ApiProperty({ type: [String] }) args: string[];
  @ApiProperty({ nullable: true, type: String }) url: string | null;
  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'string', enum: ['[REDACTED]'] },
    description: 'The names of the environment variables; values are write-only',
    example: { API_TOKEN: '[REDACTED]' },
  })
  env: Record<string, '[REDACTED]'>;
  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'string', enum: ['[REDACTED]'] },
    description: 'The names of the HTTP headers (sse / streamable-http); values are write-only',
    example: { Authorization: '[REDACTED]' },
  })
  headers: Record<string, '[REDACTED]'>;
  @ApiProperty({ type: [String] }) tags: string[];
  @ApiProperty({ format: 'date-time' }) createdAt: Date;
  @ApiProperty({ format: 'date-time' }) updatedAt: Date;
}

export class McpDefinitionPageDto {
  @ApiProperty({ type: [McpDefinitionDto] }) items: McpDefinitionDto[];
  @ApiProperty({ nullable: true, type: String }) nextCursor: string | null;
}

export class McpVersionDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ format: 'uuid' }) mcpDefinitionId: string;
  @ApiProperty({ example: '1.2.0' }) version: string;
  @ApiProperty({ type: 'object', additionalProperties: true }) manifest: Record<string, unknown>;
  @ApiProperty() changelog: string;
  @ApiProperty({ format: 'date-time' }) createdAt: Date;
}

export class McpVersionPageDto {
  @ApiProperty({ type: [McpVersionDto] }) items: McpVersionDto[];
  @ApiProperty({ nullable: true, type: String }) nextCursor: string | null;
}
