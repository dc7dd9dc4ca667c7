import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, Matches } from 'class-validator';
import { ActionLogEntryDto } from '../query/dto/action-log-entry.dto';

const POSITION = /^[1-9][0-9]{0,18}$/;

export class VerifyQueryDto {
  @ApiPropertyOptional({
    description: 'First position to check (default 1)',
    pattern: POSITION.source,
  })
  @IsOptional()
  @Matches(POSITION, { message: 'fromSeq must be a chain position (a positive integer)' })
  fromSeq?: string;

  @ApiPropertyOptional({
    description: 'Last position to check (default: the end of the chain)',
    pattern: POSITION.source,
  })
  @IsOptional()
  @Matches(POSITION, { message: 'toSeq must be a chain position (a positive integer)' })
  toSeq?: string;
}

export class CheckpointDto {
  @ApiProperty({ example: '1000', pattern: '^[0-9]+$' })
  seq: string;
  @ApiProperty({ description: "The chain's hash at `seq` (hex)", pattern: '^[0-9a-f]{64}$' })
  hash: string;
  @ApiProperty({ format: 'date-time', example: '2026-11-23T06:00:00.123456Z' })
  timestamp: string;
  @ApiProperty({ description: 'The signing key (its JWK thumbprint)' })
  keyId: string;
  @ApiProperty({
    description: 'Ed25519 over the RFC 8785 form of {seq, hash, timestamp, keyId} (base64url)',
  })
  signature: string;
}

export class InvalidDto {
  @ApiProperty({
    nullable: true,
    type: String,
    description: 'The first position that does not hold (null: an entry that is in no position)',
  })
  seq: string | null;
  @ApiProperty({
    example:
      'the entry at position 42 does not match its hash (changed, or the chain was rewritten)',
  })
  reason: string;
}

export class VerifyResultDto {
  @ApiProperty()
  ok: boolean;
  @ApiProperty({ type: 'integer', description: 'Positions checked' })
  checked: number;
  @ApiProperty({
    type: 'integer',
    description:
      'Of those, positions whose entries retention archived and purged: the chain is checked on from their stored hashes; the entries verify offline against their archive files',
  })
  archived: number;
  // Inline objects: OpenAPI 3.0 cannot make a $ref nullable.
  @ApiProperty({
    type: 'object',
    nullable: true,
    description: 'The last signed checkpoint reached',
    required: ['seq', 'hash', 'timestamp', 'keyId', 'signature'],
    properties: {
      seq: { type: 'string', pattern: '^[0-9]+$' },
      hash: { type: 'string', pattern: '^[0-9a-f]{64}$' },
      timestamp: { type: 'string', format: 'date-time' },
      keyId: { type: 'string' },
      signature: { type: 'string' },
    },
    additionalProperties: false,
  })
  lastCheckpoint: CheckpointDto | null;
  @ApiProperty({
    type: 'object',
    nullable: true,
    description:
      'The first position that does not hold (seq null: an entry that is in no position), and why',
    required: ['seq', 'reason'],
    properties: {
      seq: { type: 'string', nullable: true, pattern: '^[0-9]+$' },
      reason: { type: 'string' },
    },
    additionalProperties: false,
  })
  firstInvalid: InvalidDto | null;
}

export class PublicJwkDto {
  @ApiProperty({ enum: ['OKP'] })
  kty: 'OKP';
  @ApiProperty({ enum: ['Ed25519'] })
  crv: 'Ed25519';
  @ApiProperty({ description: 'The public key (base64url)' })
  x: string;
  @ApiProperty({ description: 'RFC 7638 thumbprint: the keyId of checkpoints' })
  kid: string;
  @ApiProperty({ enum: ['EdDSA'] })
  alg: 'EdDSA';
  @ApiProperty({ enum: ['sig'] })
  use: 'sig';
}

export class SealedEntryDto extends ActionLogEntryDto {}

export class FollowingDigestDto {
  @ApiProperty({ pattern: '^[0-9]+$' })
  seq: string;
  @ApiProperty({ pattern: '^[0-9a-f]{64}$' })
  digest: string;
}

export class ChainProofDto {
  @ApiProperty({ type: SealedEntryDto })
  entry: SealedEntryDto;
  @ApiProperty({ type: 'integer', example: 1 })
  hashVersion: number;
  @ApiProperty({
    description: 'Hash of the position before (64 zeros before the first)',
    pattern: '^[0-9a-f]{64}$',
  })
  prevHash: string;
  @ApiProperty({ description: "SHA-256 of the entry's RFC 8785 form", pattern: '^[0-9a-f]{64}$' })
  digest: string;
  @ApiProperty({
    type: [FollowingDigestDto],
    description: 'Digests of the entries after it, up to the checkpoint',
  })
  following: FollowingDigestDto[];
  @ApiProperty({ type: CheckpointDto })
  checkpoint: CheckpointDto;
  @ApiProperty({ type: PublicJwkDto })
  publicKey: PublicJwkDto;
}
