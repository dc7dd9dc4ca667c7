import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  Index,
  PrimaryGeneratedColumn,
  Unique,
  UpdateDateColumn,
} from 'typeorm';
import { AuditedEntity, SecretValues } from '@/modules/auditing';
import { sealedMapTransformer, type SealedMap } from '../secrets/secrets-box';

export const TRANSPORTS = ['stdio', 'sse', 'streamable-http'] as const;
export type Transport = (typeof TRANSPORTS)[number];

/** An MCP server: how to reach it. Its published versions are `McpVersion`s. */
@AuditedEntity('MCP_DEFINITION')
@Entity({ name: 'mcp_definitions' })
// Mirrors the migration (names included) so `migration:generate` sees no difference.
@Unique('mcp_definitions_name_key', ['name'])
@Index('mcp_definitions_name_prefix_idx', ['name'])
@Index('mcp_definitions_tags_idx', ['tags'], { type: 'gin' })
@Index('mcp_definitions_transport_idx', ['transport', 'name'])
@Check('mcp_definitions_transport_check', `transport IN ('stdio', 'sse', 'streamable-http')`)
@Check('mcp_definitions_check', `(transport = 'stdio') = (command IS NOT NULL)`)
@Check('mcp_definitions_check1', `(transport = 'stdio') = (url IS NULL)`)
@Check('mcp_definitions_headers_check', `transport <> 'stdio' OR headers = '{}'::jsonb`)
export class McpDefinition {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'text' })
  name: string;

  @Column({ type: 'text', default: '' })
  description: string;

  @Column({ type: 'text' })
  transport: Transport;

  /** stdio only. */
  @Column({ type: 'text', nullable: true })
  command: string | null;

  /** stdio only. */
  @Column({ type: 'text', array: true, default: () => "'{}'" })
  args: string[];

  /** sse / streamable-http only. */
  @Column({ type: 'text', nullable: true })
  url: string | null;

  /**
   * Environment variables for the server. The values are secrets: sealed at rest (AES-256-GCM,
   * see `SecretsBox`), `"[REDACTED]"` when serialized, named but never shown in the audit trail.
   */
  @SecretValues()
  @Column({ type: 'jsonb', default: () => "'{}'", transformer: sealedMapTransformer })
  env: SealedMap;

  /** sse / streamable-http only: HTTP headers sent to the server; values sealed like `env`. */
  @SecretValues()
  @Column({ type: 'jsonb', default: () => "'{}'", transformer: sealedMapTransformer })
  headers: SealedMap;

  @Column({ type: 'text', array: true, default: () => "'{}'" })
  tags: string[];

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz', precision: 3 })
  updatedAt: Date;
}
