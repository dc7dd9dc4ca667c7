import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { BadRequestException } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';
import { acceptId, correlationIdOf, REQUEST_ID_HEADER } from '@/common/context/request-context';
import { answerClientError, answerFrameworkError } from '@/common/errors/errors-below-nest';
import { MAX_PATH_PARAM_LENGTH } from '@/common/openapi/api-errors.decorator';
import { checkInput } from '@/common/validation/unsafe-input';
import { EntityTypeRegistry } from '@/modules/auditing';

export const API_PREFIX = 'api/v1';

/** Longer path parameters are answered 414 by the router (Fastify's default). */
const MAX_PARAM_LENGTH = MAX_PATH_PARAM_LENGTH;

export interface AdapterOptions {
  bodyLimit: number;
  /** The whole request (headers and body) must arrive within this; else 408 and close. */
  requestTimeoutMs: number;
  /** A connection with no traffic either way for this long is closed. */
  idleTimeoutMs: number;
}

/**
 * The Fastify adapter every entry point uses. The request id is decided here, once:
 * the caller's `X-Request-ID` when it is sane, a UUID otherwise; CLS and pino read it.
 * Input no handler may see (NUL, absurd nesting) is refused here too, before Nest transforms
 * anything (lone surrogates become U+FFFD), and errors raised below Nest get the one error shape.
 */
export function createAdapter(options: AdapterOptions): FastifyAdapter {
  const { bodyLimit, requestTimeoutMs, idleTimeoutMs } = options;
  const adapter = new FastifyAdapter({
    bodyLimit,
    genReqId: (req: IncomingMessage) => {
      const id = acceptId(req.headers[REQUEST_ID_HEADER]) ?? randomUUID();
      // pino-http and the CLS middleware see the raw request: leave the id on it.
      (req as IncomingMessage & { id?: string }).id = id;
      return id;
    },
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors: answerFrameworkError(MAX_PARAM_LENGTH),
    clientErrorHandler: answerClientError,
    // Slow clients (a body dripped a byte at a time) must not hold connections: node checks
    // its deadlines every `connectionsCheckingInterval`, so that is kept well below the limit.
    requestTimeout: requestTimeoutMs,
    connectionTimeout: idleTimeoutMs,
    http: {
      requestTimeout: requestTimeoutMs,
      headersTimeout: requestTimeoutMs,
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(requestTimeoutMs / 4))),
    },
  });
  const fastify = adapter.getInstance();
  // A route may raise its own body limit with `@RouteConfig({ bodyLimit })` (bulk ingest).
  fastify.addHook('onRoute', (route) => {
    const limit: unknown = (route.config as Record<string, unknown> | undefined)?.bodyLimit;
    if (typeof limit === 'number') route.bodyLimit = limit;
  });
  // Echo the ids on every response, including 404s and body-parser errors (413).
  fastify.addHook('onRequest', (req, reply, done) => {
    void reply.header('X-Request-ID', req.id);
    void reply.header('X-Correlation-ID', correlationIdOf(req.headers, req.id));
    done();
  });
  // One check for every input, before guards, pipes and handlers (which run inside the route).
  fastify.addHook('preValidation', (req, _reply, done) => {
    const params = checkInput(req.params, 'path parameter');
    const query = checkInput(req.query, 'query parameter');
    const body = checkInput(req.body, 'body');
    req.body = body.value;
    const problem = params.problem ?? query.problem ?? body.problem;
    done(problem ? new BadRequestException(problem) : undefined);
  });
  return adapter;
}

/** Global set-up shared by main.ts and the e2e tests. */
export async function configureApp(app: NestFastifyApplication): Promise<void> {
  app.useLogger(app.get(Logger));
  app.setGlobalPrefix(API_PREFIX);
  let document: OpenAPIObject | undefined;
  SwaggerModule.setup('docs', app, () => (document ??= buildOpenApiDocument(app)));
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
}

/** Response headers every answer carries (set in `createAdapter`'s onRequest hook). */
const ID_HEADERS = {
  'X-Request-ID': {
    description: "This request's id (the caller's X-Request-ID when sane, else a UUID)",
    schema: { type: 'string' },
  },
  'X-Correlation-ID': {
    description: "The caller's X-Correlation-ID when sane, else the request id",
    schema: { type: 'string' },
  },
} as const;

/** What a rate-limited route (every `@Roles` route) sends while RATE_LIMIT_MAX > 0. */
const RATE_HEADERS = {
  'X-RateLimit-Limit': {
    description: 'Requests allowed per window (RATE_LIMIT_MAX)',
    schema: { type: 'integer' },
  },
  'X-RateLimit-Remaining': {
    description: 'Requests left in this window',
    schema: { type: 'integer' },
  },
  'X-RateLimit-Reset': {
    description: 'Seconds until the window resets',
    schema: { type: 'integer' },
  },
} as const;
const RETRY_AFTER = {
  'Retry-After': { description: 'Seconds to wait before retrying', schema: { type: 'integer' } },
} as const;

const URI_TOO_LONG = {
  description: `A path parameter is longer than ${MAX_PATH_PARAM_LENGTH} characters`,
  content: {
    'application/json': { schema: { $ref: '#/components/schemas/ErrorResponseDto' } },
  },
};

/**
 * The OpenAPI document (`/docs-json`, and `openapi.json` at the repo root via
 * `npm run openapi`): the decorators' output plus what holds for every operation.
 */
export function buildOpenApiDocument(app: NestFastifyApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('MCP Backend')
    .setDescription(
      'MCP server definitions and versions, workflows and their runs, and the audit trail of every change. ' +
        'Every error answers `{ statusCode, message, error, requestId }`.',
    )
    .setVersion('1')
    .addServer('/', 'This server')
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
  const document = SwaggerModule.createDocument(app, config);
  // The entity types the trail knows are registered at bootstrap (every @Audited declaration):
  // list them where a client filters by one.
  const entityTypes = app.get(EntityTypeRegistry, { strict: false }).list();
  for (const [path, item] of Object.entries(document.paths)) {
    for (const operation of Object.values(item) as {
      responses?: Record<string, unknown>;
      security?: unknown[];
      parameters?: { name: string; schema?: Record<string, unknown> }[];
    }[]) {
      if (!operation?.responses) continue;
      // The router answers 414 for any path parameter over MAX_PATH_PARAM_LENGTH (below Nest).
      if (path.includes('{')) operation.responses['414'] ??= URI_TOO_LONG;
      for (const parameter of operation.parameters ?? []) {
        if (parameter.name === 'entityType' && parameter.schema)
          parameter.schema.enum = entityTypes;
      }
      const limited = (operation.security?.length ?? 0) > 0;
      for (const [code, response] of Object.entries(operation.responses) as [
        string,
        { headers?: Record<string, unknown> },
      ][]) {
        response.headers = {
          ...refsTo(ID_HEADERS),
          ...(limited ? refsTo(RATE_HEADERS) : {}),
          ...(code === '429' || code === '503' ? refsTo(RETRY_AFTER) : {}),
          ...response.headers,
        };
      }
    }
  }
  // Declared once, referenced by every response (the document stays small and readable).
  document.components = {
    ...document.components,
    headers: { ...ID_HEADERS, ...RATE_HEADERS, ...RETRY_AFTER },
  };
  return document;
}

function refsTo(headers: object): Record<string, { $ref: string }> {
  return Object.fromEntries(
    Object.keys(headers).map((name) => [name, { $ref: `#/components/headers/${name}` }]),
  );
}

/** openapi.json's exact bytes: stable, so a stale committed file shows as a diff. */
export function serializeOpenApi(document: OpenAPIObject): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}
