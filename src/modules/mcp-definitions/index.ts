/** The MCP registry's public face: the only file other modules import from. */
export { McpDefinitionsModule } from './mcp-definitions.module';
export { McpDefinitionsService, type ResolvedSecrets } from './mcp-definitions.service';
export { SecretsBox, SecretUnreadableError, type SecretSlot } from './secrets/secrets-box';
export {
  McpConnector,
  McpConnectionError,
  StdioCommandRefusedError,
  traceparent,
  type McpSession,
} from './client/mcp-connector';
