import { ApiProperty } from '@nestjs/swagger';

/** The body of every error response. */
export class ErrorResponseDto {
  @ApiProperty({ example: 400 }) statusCode: number;
  @ApiProperty({ oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] })
  message: string | string[];
  @ApiProperty({ example: 'Bad Request' }) error: string;
  @ApiProperty({ example: '8f14e45f-ceea-467f-a0e6-4e1d2c1b9f1a' }) requestId: string;
}
