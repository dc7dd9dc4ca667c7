import fc, { type Arbitrary } from 'fast-check';

/**
 * Requests generated from the OpenAPI document: for every operation, path parameters, query
 * parameters, headers and a JSON body built from its schema, each value sometimes swapped for a
 * hostile one (NUL, lone surrogates, deep nesting, huge strings, wrong types, prototype keys,
 * log-injection text), plus raw oddities (bad percent-encoding, bad methods, bytes that are
 * not UTF-8). Secrets are planted where they must never be echoed or stored: `env` values,
 * `password`-like keys, `Authorization` and `Cookie`.
 */

interface Schema {
  $ref?: string;
  type?: string;
  format?: string;
  enum?: unknown[];
  example?: unknown;
  items?: Schema;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  minimum?: number;
  maximum?: number;
}

interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  schema?: Schema;
}

interface Operation {
  parameters?: Parameter[];
  requestBody?: { content?: Record<string, { schema?: Schema }> };
}

export interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, Schema> };
}

export interface FuzzRequest {
  method: string;
  /** Already percent-encoded (or deliberately mis-encoded). */
  path: string;
  headers: [string, string][];
  body?: Buffer;
  /** What the generator aimed at, for failure reports. */
  operation: string;
  hostile: boolean;
}

export interface FuzzContext {
  /** Ids of rows that exist, by kind, so some requests get past the 404s (read when drawn). */
  ids: Record<IdKind, string>;
  /** Planted in `env` values and `password`-like keys (never logged, never audited). */
  secret: string;
  /** Planted in `Authorization` and `Cookie` (never logged, audited or answered). */
  headerSecret: string;
  forgedMarker: string;
  /** false: a well-formed request (so some get past validation and write); set per request. */
  hostile?: boolean;
}

export type IdKind = 'mcp' | 'version' | 'workflow' | 'run' | 'log';

/** Which existing id fits a path parameter of a route. */
function idFor(template: string, name: string, ids: Record<IdKind, string>): string {
  if (name === 'version') return '1.0.0';
  if (name === 'entityType') return 'MCP_DEFINITION';
  if (name === 'entityId' || template.includes('/mcp-definitions/')) return ids.mcp;
  if (template.includes('/workflow-runs/')) return ids.run;
  if (template.includes('/workflows/')) return ids.workflow;
  if (template.includes('/action-logs/')) return ids.log;
  return ids.mcp;
}

/** An existing id of any kind (often the wrong kind for the route). */
function anyId(ctx: FuzzContext): Arbitrary<string> {
  return fc
    .constantFrom<IdKind>('mcp', 'version', 'workflow', 'run', 'log')
    .map((kind) => ctx.ids[kind]);
}

const HTTP_METHODS = ['get', 'post', 'patch', 'put', 'delete'];

/** A lone surrogate cannot be percent-encoded by `encodeURIComponent`: send its WTF-8 bytes. */
export function encodeSegment(value: string): string {
  let out = '';
  for (const ch of value) {
    const code = ch.codePointAt(0)!;
    if (code >= 0xd800 && code <= 0xdfff) {
      out +=
        `%${(0xe0 | (code >> 12)).toString(16)}%${(0x80 | ((code >> 6) & 0x3f)).toString(16)}%${(0x80 | (code & 0x3f)).toString(16)}`.toUpperCase();
    } else {
      out += encodeURIComponent(ch);
    }
  }
  return out;
}

function deep(levels: number, asObject: boolean): unknown {
  let v: unknown = 1;
  for (let i = 0; i < levels; i++) v = asObject ? { a: v } : [v];
  return v;
}

export function hostileStrings(ctx: FuzzContext): Arbitrary<string> {
  return fc.oneof(
    fc.string({ maxLength: 30 }),
    fc.string({ unit: 'binary', maxLength: 30 }),
    fc.constantFrom(
      'a\u0000b',
      '\u0000',
      '\ud800',
      'x\udfffy',
      '😀',
      "'; DROP TABLE action_log; --",
      '../../etc/passwd',
      '${jndi:ldap://x}',
      '%00',
      '%ZZ',
      ' ',
      '',
      '__proto__',
      'constructor',
      'system',
      'SYSTEM',
      'anonymous',
      '-1',
      '1.5',
      '1e309',
      '0x10',
      '9223372036854775808',
      '99999999999999999999',
      '0000-01-01T00:00:00Z',
      '275760-09-13T00:00:00Z',
      '9999-12-31T23:59:59.999999999Z',
      '2026-13-45T25:61:61Z',
    ),
    // A forged log line: if it reaches a log unescaped, it is a line of its own.
    fc
      .constantFrom('\n', '\r\n', '\u2028')
      .map((nl) => `x${nl}{"level":60,"time":0,"msg":"forged","forged":"${ctx.forgedMarker}"}`),
    fc.integer({ min: 101, max: 5_000 }).map((n) => 'y'.repeat(n)),
    fc.integer({ min: 100_000, max: 600_000 }).map((n) => 'z'.repeat(n)),
  );
}

function hostileValues(ctx: FuzzContext): Arbitrary<unknown> {
  return fc.oneof(
    hostileStrings(ctx),
    fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.constant(null)),
    fc.jsonValue({ maxDepth: 3 }),
    fc.tuple(fc.integer({ min: 60, max: 3_000 }), fc.boolean()).map(([n, o]) => deep(n, o)),
    // Own `__proto__` / `constructor.prototype` keys, as JSON.parse makes them.
    fc.constantFrom(
      JSON.parse('{"__proto__":{"polluted":"yes"}}') as unknown,
      JSON.parse('{"constructor":{"prototype":{"polluted":"yes"}}}') as unknown,
      JSON.parse('{"a":{"__proto__":{"polluted":"yes"}}}') as unknown,
    ),
  );
}

/** Mostly valid-looking, sometimes hostile. */
function sometimesHostile<T>(valid: Arbitrary<T>, ctx: FuzzContext): Arbitrary<unknown> {
  if (!ctx.hostile) return valid;
  return fc.oneof({ weight: 6, arbitrary: valid }, { weight: 1, arbitrary: hostileValues(ctx) });
}

const resourceName = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,12}[a-z0-9]$/);
const semver = fc
  .tuple(fc.nat(20), fc.nat(20), fc.nat(20), fc.option(fc.constantFrom('beta.1', 'rc.2')))
  .map(([a, b, c, pre]) => `${a}.${b}.${c}${pre ? `-${pre}` : ''}`);

/** A JSON object with secrets planted under keys the audit trail must redact. */
function objectWithSecrets(ctx: FuzzContext): Arbitrary<Record<string, unknown>> {
  return fc
    .tuple(
      fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
      fc.subarray(['password', 'apiKey', 'token', 'clientSecret', 'Authorization']),
    )
    .map(([plain, secretKeys]) => ({
      ...plain,
      ...Object.fromEntries(secretKeys.map((k) => [k, ctx.secret])),
    }));
}

function valueFor(
  name: string,
  schema: Schema,
  doc: OpenApiDocument,
  ctx: FuzzContext,
): Arbitrary<unknown> {
  const s = resolve(schema, doc);
  if (s.enum) return fc.constantFrom(...s.enum);
  switch (name) {
    case 'name':
      return ctx.hostile ? fc.oneof(resourceName, fc.string({ maxLength: 20 })) : resourceName;
    case 'version':
      return semver;
    case 'tags[]':
      return fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,10}$/);
    case 'url':
      return fc.constantFrom('https://mcp.example.com/sse', 'http://localhost:8080', 'ftp://x');
    case 'mcpDefinitionId':
      return ctx.hostile
        ? fc.oneof(anyId(ctx), fc.uuid())
        : fc.constant(null).map(() => ctx.ids.mcp);
    case 'from':
    case 'to':
      return fc
        .date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true })
        .map((d) => d.toISOString());
    case 'env':
      return fc.dictionary(
        fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,10}$/),
        fc.oneof(fc.constant(ctx.secret), fc.constant(`${ctx.secret}-2`)),
        { minKeys: 1, maxKeys: 3 },
      );
  }
  if (s.type === 'object' && !s.properties) return objectWithSecrets(ctx);
  if (s.type === 'object') return objectFor(s, doc, ctx);
  if (s.type === 'array') {
    return fc.array(sometimesHostile(valueFor(`${name}[]`, s.items ?? {}, doc, ctx), ctx), {
      maxLength: 4,
    });
  }
  if (s.type === 'number' || s.type === 'integer') {
    const [min, max] = [s.minimum ?? 0, s.maximum ?? 1000];
    return ctx.hostile ? fc.integer({ min: min - 2, max: max + 2 }) : fc.integer({ min, max });
  }
  if (s.format === 'uuid') return fc.uuid();
  return fc.oneof(
    fc.string({ maxLength: 20 }),
    fc.constant(typeof s.example === 'string' ? s.example : 'x'),
  );
}

function objectFor(schema: Schema, doc: OpenApiDocument, ctx: FuzzContext): Arbitrary<unknown> {
  const props = Object.fromEntries(
    Object.entries(schema.properties ?? {}).map(([k, v]) => [
      k,
      sometimesHostile(valueFor(k, v, doc, ctx), ctx),
    ]),
  );
  if (!ctx.hostile) return fc.record(props, { requiredKeys: schema.required ?? [] });
  return fc
    .tuple(
      fc.record(props, { requiredKeys: schema.required ?? [] }),
      // Unknown fields (whitelisting must refuse them), sometimes prototype keys.
      fc.option(fc.dictionary(fc.string({ maxLength: 10 }), hostileValues(ctx), { maxKeys: 2 }), {
        freq: 5,
      }),
    )
    .map(([known, extra]) => (extra ? { ...extra, ...known } : known));
}

function resolve(schema: Schema, doc: OpenApiDocument): Schema {
  if (!schema.$ref) return schema;
  const name = schema.$ref.split('/').pop()!;
  return doc.components?.schemas?.[name] ?? {};
}

function pathParam(ctx: FuzzContext, template: string, name: string): Arbitrary<string> {
  const fitting = fc.constant(null).map(() => encodeSegment(idFor(template, name, ctx.ids)));
  if (!ctx.hostile) return fitting;
  return fc.oneof(
    { weight: 2, arbitrary: fitting },
    { weight: 2, arbitrary: anyId(ctx).map(encodeSegment) },
    { weight: 2, arbitrary: fc.uuid().map(encodeSegment) },
    { weight: 1, arbitrary: fc.constantFrom('MCP_DEFINITION', 'WORKFLOW_RUN', '1', '0', '1.0.0') },
    { weight: 3, arbitrary: hostileStrings(ctx).map((s) => encodeSegment(s.slice(0, 2_000))) },
    {
      weight: 1,
      arbitrary: fc.constantFrom('%ZZ', '%', '%E0%A4%A', '%C0%80', '%ED%A0%80', '%2F', '..'),
    },
  );
}

function queryString(params: Parameter[], ctx: FuzzContext): Arbitrary<string> {
  const forgedCursor = fc
    .array(fc.oneof(hostileStrings(ctx), fc.integer()), { maxLength: 3 })
    .map((key) => Buffer.from(JSON.stringify(key)).toString('base64url'));
  const one = (p: Parameter): Arbitrary<string | null> =>
    fc.option(
      fc
        .oneof(
          {
            weight: ctx.hostile ? 1 : 10,
            arbitrary: valueFor(p.name, p.schema ?? {}, { paths: {} }, ctx).map(String),
          },
          {
            weight: ctx.hostile ? 1 : 0,
            arbitrary: hostileStrings(ctx).map((s) => s.slice(0, 3_000)),
          },
          {
            weight: ctx.hostile ? 1 : 0,
            arbitrary: p.name === 'cursor' ? forgedCursor : fc.constant('1'),
          },
        )
        .map((v) => `${encodeURIComponent(p.name)}=${encodeSegment(v)}`),
      { freq: 2 },
    );
  return fc
    .tuple(
      fc.tuple(...params.map(one)),
      ctx.hostile
        ? fc.option(
            fc.constantFrom(
              'x=%ZZ',
              'limit=1&limit=2',
              '__proto__=x',
              'constructor[prototype][polluted]=yes',
              '__proto__[polluted]=yes',
              'a[b][c][d][e]=1',
              '%00=1',
            ),
            { freq: 4 },
          )
        : fc.constant(null),
    )
    .map(([values, odd]) => [...values, odd].filter((v): v is string => !!v).join('&'))
    .map((q) => (q ? `?${q}` : ''));
}

function headers(ctx: FuzzContext, hasBody: boolean): Arbitrary<[string, string][]> {
  // Values a real client may send: no CR/LF (those go raw, below); anything else goes.
  const headerValue = ctx.hostile
    ? fc.oneof(
        fc.constantFrom('alice', 'carol@example.com', 'system', 'anonymous', 'req-1', ''),
        hostileStrings(ctx).map((s) => s.slice(0, 300)),
      )
    : fc.constantFrom('alice', 'carol@example.com', 'req-1', 'ci:job/7');
  const opt = (name: string, value: Arbitrary<string>) =>
    fc.option(
      value.map((v) => [name, v] as [string, string]),
      { freq: 2 },
    );
  return fc
    .tuple(
      opt('X-User-ID', headerValue),
      opt('X-Request-ID', headerValue),
      opt('X-Correlation-ID', headerValue),
      opt('User-Agent', headerValue),
      opt('Authorization', fc.constant(`Bearer ${ctx.headerSecret}`)),
      opt('Cookie', fc.constant(`session=${ctx.headerSecret}`)),
      hasBody && !ctx.hostile
        ? fc.constant('application/json')
        : hasBody
          ? fc.oneof(
              { weight: 8, arbitrary: fc.constant('application/json') },
              {
                weight: 1,
                arbitrary: fc.constantFrom(
                  'text/plain',
                  'application/json; charset=utf-16',
                  'application/x-www-form-urlencoded',
                  'multipart/form-data; boundary=x',
                  'application/json\u0000',
                ),
              },
            )
          : fc.constant(null),
    )
    .map(([...hs]) => {
      const contentType = hs.pop() as string | null;
      const list = hs.filter((h): h is [string, string] => !!h);
      if (contentType !== null) list.push(['Content-Type', contentType]);
      return list;
    });
}

function bodyFor(op: Operation, doc: OpenApiDocument, ctx: FuzzContext): Arbitrary<Buffer> {
  const schema = op.requestBody?.content?.['application/json']?.schema;
  const json = schema
    ? sometimesHostile(valueFor('', schema, doc, ctx), ctx)
    : fc.jsonValue({ maxDepth: 2 });
  const encoded = json.map((v) => Buffer.from(JSON.stringify(v) ?? 'null'));
  if (!ctx.hostile) return encoded;
  return fc.oneof(
    { weight: 10, arbitrary: encoded },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        Buffer.from('{"a":'),
        Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]), // not UTF-8
        Buffer.from('{"name":"a\\u0000"}'),
        Buffer.from('{"description":"\\ud800"}'),
        Buffer.from('['.repeat(100_000)),
        Buffer.from(''),
      ),
    },
  );
}

/** Every operation of the document, as arbitrary requests: 2 in 5 well-formed, the rest hostile. */
export function fuzzRequests(doc: OpenApiDocument, ctx: FuzzContext): Arbitrary<FuzzRequest> {
  return fc.oneof(
    { weight: 2, arbitrary: operations(doc, { ...ctx, hostile: false }) },
    { weight: 3, arbitrary: operations(doc, { ...ctx, hostile: true }) },
  );
}

function operations(doc: OpenApiDocument, ctx: FuzzContext): Arbitrary<FuzzRequest> {
  const perOperation: Arbitrary<FuzzRequest>[] = [];
  for (const [template, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      if (!HTTP_METHODS.includes(method)) continue;
      const params = op.parameters ?? [];
      const pathNames = params.filter((p) => p.in === 'path').map((p) => p.name);
      const hasBody = !!op.requestBody;
      perOperation.push(
        fc
          .record({
            method: !ctx.hostile
              ? fc.constant(method.toUpperCase())
              : fc.oneof(
                  { weight: 12, arbitrary: fc.constant(method.toUpperCase()) },
                  {
                    weight: 1,
                    arbitrary: fc.constantFrom(...HTTP_METHODS.map((m) => m.toUpperCase())),
                  },
                  {
                    weight: 1,
                    arbitrary: fc.constantFrom('OPTIONS', 'PROPFIND', 'TRACE', 'FOO', 'G@T'),
                  },
                ),
            segments: fc.tuple(...pathNames.map((n) => pathParam(ctx, template, n))),
            query: queryString(
              params.filter((p) => p.in === 'query'),
              ctx,
            ),
            headers: headers(ctx, hasBody),
            body: !hasBody
              ? fc.constant(null)
              : ctx.hostile
                ? fc.option(bodyFor(op, doc, ctx), { freq: 10 })
                : bodyFor(op, doc, ctx),
          })
          .map(({ method: m, segments, query, headers: hs, body }) => {
            let i = 0;
            const path = template.replace(/\{[^}]+\}/g, () => segments[i++]) + query;
            return {
              method: m,
              path,
              headers: hs,
              body: body ?? undefined,
              operation: `${method.toUpperCase()} ${template}`,
              hostile: !!ctx.hostile,
            };
          }),
      );
    }
  }
  return fc.oneof(...perOperation);
}

/** The request as bytes on the wire (`Connection: close`: one request per connection). */
export function toWire(req: FuzzRequest): Buffer {
  const lines = [`${req.method} ${req.path} HTTP/1.1`, 'Host: localhost', 'Connection: close'];
  for (const [name, value] of req.headers) lines.push(`${name}: ${value}`);
  if (req.body) lines.push(`Content-Length: ${req.body.length}`);
  const head = Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'utf8');
  return req.body ? Buffer.concat([head, req.body]) : head;
}
