import type { IncomingMessage } from 'node:http';
import { Module, type DynamicModule } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { LoggerModule } from 'nestjs-pino';
import { stdSerializers, type DestinationStream } from 'pino';
import type { Env } from '@/config/env';

/**
 * Errors are logged without the values bound to their SQL (`parameters`): those values are
 * user data and may be secrets (an MCP definition's `env`). The SQL text stays.
 */
export function serializeError(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  return withoutParameters(stdSerializers.err(error));
}

function withoutParameters(value: unknown, depth = 0): unknown {
  if (depth > 5 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => withoutParameters(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    // `detail` of a PostgreSQL error can echo the whole failing row ("Failing row contains …").
    out[key] =
      key === 'parameters' || key === 'detail' ? '[REDACTED]' : withoutParameters(v, depth + 1);
  }
  return out;
}

/**
 * Structured JSON logs (pino). Every line logged while a request is in flight carries
 * its `requestId` (the same id as `X-Request-ID`). Credentials in headers never reach a log.
 */
@Module({})
export class LoggingModule {
  /** `stream`: where the lines go (stdout by default; tests capture them). */
  static forRoot(stream?: DestinationStream): DynamicModule {
    return {
      module: LoggingModule,
      imports: [
        LoggerModule.forRootAsync({
          inject: [ConfigService],
          useFactory: (config: ConfigService<Env, true>) => {
            const options = {
              level: config.get('LOG_LEVEL', { infer: true }),
              genReqId: (req: IncomingMessage & { id?: string }) => req.id ?? '',
              customAttributeKeys: { reqId: 'requestId' },
              redact: {
                paths: [
                  'req.headers.authorization',
                  'req.headers.cookie',
                  'req.headers["x-api-key"]',
                  'res.headers["set-cookie"]',
                  // SQL parameters are user data (and may be secrets): see serializeError.
                  'err.parameters',
                  'err.driverError.parameters',
                  'err.cause.parameters',
                  'err.detail',
                  'err.driverError.detail',
                ],
                censor: '[REDACTED]',
              },
              serializers: {
                err: serializeError,
                req: (req: { id: unknown; method: string; url: string }) => ({
                  id: req.id,
                  method: req.method,
                  url: req.url,
                }),
              },
              // Health probes would drown the log.
              autoLogging: { ignore: (req: IncomingMessage) => req.url === '/api/v1/health' },
            };
            return { pinoHttp: stream ? [options, stream] : options };
          },
        }),
      ],
    };
  }
}
