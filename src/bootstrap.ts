import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';
import { acceptId, correlationIdOf, REQUEST_ID_HEADER } from '@/common/context/request-context';

export const API_PREFIX = 'api/v1';

/**
 * The Fastify adapter every entry point uses. The request id is decided here, once:
 * the caller's `X-Request-ID` when it is sane, a UUID otherwise; CLS and pino read it.
 */
export function createAdapter(bodyLimit: number): FastifyAdapter {
  const adapter = new FastifyAdapter({
    bodyLimit,
    genReqId: (req: IncomingMessage) => {
      const id = acceptId(req.headers[REQUEST_ID_HEADER]) ?? randomUUID();
      // pino-http and the CLS middleware see the raw request: leave the id on it.
      (req as IncomingMessage & { id?: string }).id = id;
      return id;
    },
  });
  // Echo the ids on every response, including 404s and body-parser errors (413).
  adapter.getInstance().addHook('onRequest', (req, reply, done) => {
    void reply.header('X-Request-ID', req.id);
    void reply.header('X-Correlation-ID', correlationIdOf(req.headers, req.id));
    done();
  });
  return adapter;
}

/** Global set-up shared by main.ts and the e2e tests. */
export async function configureApp(app: NestFastifyApplication): Promise<void> {
  app.useLogger(app.get(Logger));
  app.setGlobalPrefix(API_PREFIX);
  const config = new DocumentBuilder()
    .setTitle('MCP Backend')
    .setDescription(
      'MCP server definitions and versions, workflows and their runs, and the audit trail of every change.',
    )
    .setVersion('1')
    .addGlobalParameters(
      { name: 'X-Request-ID', in: 'header', required: false, schema: { type: 'string' } },
      { name: 'X-Correlation-ID', in: 'header', required: false, schema: { type: 'string' } },
      {
        name: 'X-User-ID',
        in: 'header',
        required: false,
        description: 'AUTH_MODE=header only: the actor (jwt mode ignores it)',
        schema: { type: 'string' },
      },
      {
        name: 'X-User-Roles',
        in: 'header',
        required: false,
        description: 'AUTH_MODE=header only: a comma list of roles (absent: all)',
        schema: { type: 'string' },
      },
    )
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
    .build();
  SwaggerModule.setup('docs', app, () => SwaggerModule.createDocument(app, config));
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
}
