import { PartialType } from '@nestjs/swagger';
import { CreateMcpDefinitionDto } from './create-mcp-definition.dto';

/**
 * Any subset of the fields; each given field replaces the stored one (`env`, `args` and `tags`
 * as a whole). The result must still be consistent for its transport.
 */
export class UpdateMcpDefinitionDto extends PartialType(CreateMcpDefinitionDto) {}
