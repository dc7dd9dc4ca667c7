import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
  Unique,
} from 'typeorm';
import { AuditedEntity } from '@/modules/auditing';
import { McpDefinition } from './mcp-definition.entity';

/** An immutable published version of an MCP definition. */
@AuditedEntity('MCP_VERSION')
@Entity({ name: 'mcp_versions' })
// Mirrors the migration (names included) so `migration:generate` sees no difference.
@Unique('mcp_versions_definition_version_key', ['mcpDefinitionId', 'version'])
@Index('mcp_versions_definition_created_idx', ['mcpDefinitionId', 'createdAt', 'id'])
@Check('mcp_versions_manifest_check', `jsonb_typeof(manifest) = 'object'`)
export class McpVersion {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'mcp_definition_id', type: 'uuid' })
  mcpDefinitionId: string;

  /** The schema's foreign key (RESTRICT: versions are deleted first, each on record). */
  @ManyToOne(() => McpDefinition, { onDelete: 'RESTRICT' })
  @JoinColumn({
    name: 'mcp_definition_id',
    foreignKeyConstraintName: 'mcp_versions_mcp_definition_id_fkey',
  })
  definition?: McpDefinition;

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
