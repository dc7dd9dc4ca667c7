import { Logger, Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { Env } from '@/config/env';
import { McpDefinitionsController } from './mcp-definitions.controller';
import { McpDefinitionsService } from './mcp-definitions.service';
import { McpConnector } from './client/mcp-connector';
import { McpDiscoveryService } from './client/mcp-discovery.service';
import { McpServersInteropService } from './mcp-servers-interop.service';
import { StdioPolicy } from './stdio-policy';
import { SecretsBox } from './secrets/secrets-box';
import { loadSecretsBox } from './secrets/secrets-key';
import { SecretsSealer } from './secrets/secrets-sealer';

/** The MCP registry. Audited through `@Audited` / `@AuditedEntity` only. */
@Module({
  controllers: [McpDefinitionsController],
  providers: [
    McpDefinitionsService,
    {
      // MCP_SECRETS_KEY, or (development, test) the local key file, generated on first use.
      provide: SecretsBox,
      inject: [ConfigService],
      useFactory: async (config: ConfigService<Env, true>) => {
        const log = new Logger('SecretsBox');
        const { box } = await loadSecretsBox(
          {
            NODE_ENV: config.get('NODE_ENV', { infer: true }),
            MCP_SECRETS_KEY: config.get('MCP_SECRETS_KEY', { infer: true }),
            EMBEDDED_PG_DATA_DIR: config.get('EMBEDDED_PG_DATA_DIR', { infer: true }),
          },
          (message) => log.warn(message),
        );
        return box;
      },
    },
    SecretsSealer,
    McpConnector,
    McpDiscoveryService,
    StdioPolicy,
    McpServersInteropService,
  ],
  exports: [McpDefinitionsService, SecretsBox, McpConnector],
})
export class McpDefinitionsModule {}
