import type { IncomingMessage } from 'node:http';
import { Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { LoggerModule } from 'nestjs-pino';
import type { Env } from '@/config/env';

/**
 * Structured JSON logs (pino). Every line logged while a request is in flight carries
 * its `reqId` (the same id as `X-Request-ID`). Credentials in headers never reach a log.
 */
@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [ConfigService],
      useFactory: (config: ConfigService<Env, true>) => ({
        pinoHttp: {
          level: config.get('LOG_LEVEL', { infer: true }),
          genReqId: (req: IncomingMessage & { id?: string }) => req.id ?? '',
          customAttributeKeys: { reqId: 'requestId' },
          redact: {
            paths: [
              'req.headers.authorization',
              'req.headers.cookie',
              'req.headers["x-api-key"]',
              'res.headers["set-cookie"]',
            ],
            censor: '[REDACTED]',
          },
          serializers: {
            req: (req: { id: unknown; method: string; url: string }) => ({
              id: req.id,
              method: req.method,
              url: req.url,
            }),
          },
          // Health probes would drown the log.
          autoLogging: { ignore: (req: IncomingMessage) => req.url === '/api/v1/health' },
        },
      }),
    }),
  ],
})
export class LoggingModule {}
