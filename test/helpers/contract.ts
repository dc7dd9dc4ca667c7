import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { OpenAPIObject } from '@nestjs/swagger';

type Schema = Record<string, unknown>;
interface Answer {
  status: number;
  body: unknown;
  text?: string;
  req?: { method?: string; path?: string };
}

/**
 * Checks answers against the OpenAPI document, as a generated client would read it: the
 * operation (method + path template) exists, the status code is declared, and the JSON body
 * matches the declared schema. Objects are closed (no undeclared fields), so a field the
 * server adds without documenting it fails too.
 */
export class Contract {
  private readonly ajv = new Ajv({ strict: false, allErrors: true });
  private readonly compiled = new Map<string, ValidateFunction>();
  private readonly routes: { method: string; template: string; pattern: RegExp; rank: number }[];

  constructor(private readonly document: OpenAPIObject) {
    addFormats(this.ajv);
    const definitions = Object.fromEntries(
      Object.entries(document.components?.schemas ?? {}).map(([k, v]) => [k, toJsonSchema(v)]),
    );
    this.ajv.addSchema({ $id: 'doc', definitions });
    this.routes = Object.entries(document.paths).flatMap(([template, item]) =>
      Object.keys(item)
        .filter((m) => ['get', 'post', 'put', 'patch', 'delete'].includes(m))
        .map((method) => ({
          method,
          template,
          pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`),
          rank: (template.match(/\{/g) ?? []).length,
        })),
    );
    this.routes.sort((a, b) => a.rank - b.rank);
  }

  /** The operation a request reached: `get /api/v1/workflows/{id}`, or undefined. */
  operationOf(method: string, url: string): string | undefined {
    const path = new URL(url, 'http://x').pathname;
    const route = this.routes.find(
      (r) => r.method === method.toLowerCase() && r.pattern.test(path),
    );
    return route && `${route.method} ${route.template}`;
  }

  /** The problems with one answer; empty when it is what the document promises. */
  problems(
    method: string,
    url: string,
    answer: Pick<Answer, 'status' | 'body' | 'text'>,
  ): string[] {
    const operation = this.operationOf(method, url);
    if (!operation) return [`${method} ${url} is not in the document`];
    const [m, template] = operation.split(' ');
    const responses = (this.document.paths[template] as Record<string, { responses: Schema }>)[m]
      .responses as Record<string, { content?: Record<string, { schema?: Schema }> }>;
    const declared = responses[String(answer.status)];
    if (!declared) return [`${operation} answered ${answer.status}, which it does not declare`];
    const schema = declared.content?.['application/json']?.schema;
    if (!schema) {
      return answer.text ? [`${operation} ${answer.status} declares no body but sent one`] : [];
    }
    const key = `${operation} ${answer.status}`;
    let validate = this.compiled.get(key);
    if (!validate) {
      validate = this.ajv.compile(toJsonSchema(schema));
      this.compiled.set(key, validate);
    }
    if (validate(answer.body)) return [];
    return (validate.errors ?? []).map(
      (e) => `${key}: body${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`,
    );
  }

  /** Fails the test with every problem when a supertest answer breaks the contract. */
  expect(res: Answer & { req: { method: string; path: string } }): void {
    expect(this.problems(res.req.method, res.req.path, res)).toEqual([]);
  }
}

/** OpenAPI 3.0 schema → JSON Schema: `nullable`, component $refs, closed objects. */
function toJsonSchema(input: unknown): Schema {
  if (Array.isArray(input)) return input.map(toJsonSchema) as unknown as Schema;
  if (input === null || typeof input !== 'object') return input as Schema;
  const out: Schema = {};
  for (const [key, value] of Object.entries(input)) {
    if (key === 'example' || key === 'nullable') continue;
    if (key === '$ref' && typeof value === 'string') {
      out.$ref = value.replace('#/components/schemas/', 'doc#/definitions/');
    } else if (key === 'properties' || key === 'patternProperties') {
      out[key] = Object.fromEntries(
        Object.entries(value as Schema).map(([k, v]) => [k, toJsonSchema(v)]),
      );
    } else {
      out[key] = toJsonSchema(value);
    }
  }
  if (out.type === 'object' && out.properties && out.additionalProperties === undefined) {
    out.additionalProperties = false;
  }
  if ((input as Schema).nullable !== true) return out;
  if (typeof out.type === 'string') {
    out.type = [out.type, 'null'];
    if (Array.isArray(out.enum)) out.enum = [...(out.enum as unknown[]), null];
    return out;
  }
  return { anyOf: [out, { type: 'null' }] };
}
