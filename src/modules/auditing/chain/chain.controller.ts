import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { ApiStandardErrors, PatternPipe } from '@/common/openapi/api-errors.decorator';
import { Public, Roles } from '@/modules/identity';
import { AuditedRead } from '../audited.decorator';
import { ChainVerificationService, type ChainProof } from './chain-verification.service';
import type { VerifyResult } from './chain-verifier';
import { ChainProofDto, PublicJwkDto, VerifyQueryDto, VerifyResultDto } from './chain.dto';
import type { PublicJwk } from './signing-keys';

const ENTRY_ID = /^[0-9]{1,19}$/;

/** Tamper evidence: verify the chain, prove one entry, fetch the checkpoints' public key. */
@ApiTags('action-logs')
@Controller('action-logs')
export class ChainController {
  constructor(private readonly chain: ChainVerificationService) {}

  @Get('verify')
  @Roles('auditor')
  @AuditedRead({
    action: 'READ',
    entity: 'ACTION_LOG',
    entityId: () => 'verify',
    details: ({ query }) => ({ verify: { ...(query as object) } }),
  })
  @ApiOperation({
    operationId: 'verifyActionLogChain',
    summary: 'Verify the hash chain and its signed checkpoints',
    description:
      'Recomputes every hash of the range from the entries, checks that positions are gapless, ' +
      'that each signed checkpoint matches the chain and its signature holds (database and ' +
      'checkpoint-file copies), and, over the whole chain, that no entry is outside it.',
  })
  @ApiOkResponse({ type: VerifyResultDto })
  @ApiStandardErrors()
  verify(@Query() query: VerifyQueryDto): Promise<VerifyResult> {
    return this.chain.verify(query);
  }

  @Get('public-key')
  @Public()
  @ApiOperation({
    operationId: 'getActionLogPublicKey',
    summary: 'The public key (JWK) that verifies the signed checkpoints',
  })
  @ApiOkResponse({ type: PublicJwkDto })
  @ApiStandardErrors({ database: false })
  publicKey(): Promise<PublicJwk> {
    return this.chain.publicKey();
  }

  @Get(':id/proof')
  @Roles('auditor')
  @AuditedRead({
    action: 'READ',
    entity: 'ACTION_LOG',
    entityId: ({ params }) => params.id,
    details: () => ({ proof: true }),
  })
  @ApiOperation({
    operationId: 'getActionLogProof',
    summary: 'Proof that one entry belongs to the signed history',
    description:
      'The entry, its chain link and the digests of the entries after it up to the next signed ' +
      'checkpoint: hash = SHA-256(prevHash || SHA-256(JCS(entry))), folded with each following ' +
      "digest, equals the checkpoint's hash, whose Ed25519 signature holds with publicKey.",
  })
  @ApiOkResponse({ type: ChainProofDto })
  @ApiParam({ name: 'id', schema: { type: 'string', pattern: ENTRY_ID.source } })
  @ApiStandardErrors({
    notFound: 'No entry with this id',
    conflict: 'The entry is not sealed, or not covered by a signed checkpoint, yet',
  })
  proof(
    @Param('id', new PatternPipe('id', ENTRY_ID, 'an entry id (digits)')) id: string,
  ): Promise<ChainProof> {
    return this.chain.proof(id);
  }
}
