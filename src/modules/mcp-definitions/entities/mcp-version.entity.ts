import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { AuditedEntity } from '@/modules/auditing/change-capture';

/** An immutable published version of an MCP definition. */
@AuditedEntity('MCP_VERSION')
@Entity({ name: 'mcp_versions' })
export class McpVersion {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'mcp_definition_id', type: 'uuid' })
  mcpDefinitionId: string;

  @Column({ type: 'text' })
  version: string;

  /** The tools/capabilities this version offers. */
  @Column({ type: 'jsonb' })
  manifest: Record<string, unknown>;

  @Column({ type: 'text', default: '' })
  changelog: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;
}
