import { Module } from '@nestjs/common';
import { McpDefinitionsController } from './mcp-definitions.controller';
import { McpDefinitionsService } from './mcp-definitions.service';

/** The MCP registry. Audited through `@Audited` / `@AuditedEntity` only. */
@Module({
  controllers: [McpDefinitionsController],
  providers: [McpDefinitionsService],
  exports: [McpDefinitionsService],
})
export class McpDefinitionsModule {}
