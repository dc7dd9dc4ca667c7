/** The MCP registry's public face: the only file other modules import from. */
export { McpDefinitionsModule } from './mcp-definitions.module';
export { McpDefinitionsService } from './mcp-definitions.service';
