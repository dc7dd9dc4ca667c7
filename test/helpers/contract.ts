import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { OpenAPIObject } from '@nestjs/swagger';
import request from 'supertest';
import { buildOpenApiDocument } from '@/bootstrap';

type Schema = Record<string, unknown>;
interface Answer {
  status: number;
  body: unknown;
  text?: string;
  /** The response's Content-Type (parameters ignored). */
  type?: string;
  req?: { method?: string; path?: string };
}
type Responses = Record<string, { content?: Record<string, { schema?: Schema }> }>;
interface Route {
  method: string;
  template: string;
  operationId: string;
  pattern: RegExp;
  rank: number;
}

/**
 * Checks answers against the OpenAPI document, as a generated client would read it: the
 * operation (method + path template) exists, the status code is declared, the Content-Type is
 * one the status declares, and a JSON body matches the declared schema. Objects are closed (no
 * undeclared fields), so a field the server adds without documenting it fails too.
 */
export class Contract {
  private readonly ajv = new Ajv({ strict: false, allErrors: true });
  private readonly compiled = new Map<string, ValidateFunction>();
  private readonly routes: Route[];
  private readonly errorSchema: ValidateFunction;

  constructor(private readonly document: OpenAPIObject) {
    addFormats(this.ajv);
    const definitions = Object.fromEntries(
      Object.entries(document.components?.schemas ?? {}).map(([k, v]) => [k, toJsonSchema(v)]),
    );
    this.ajv.addSchema({ $id: 'doc', definitions });
    this.errorSchema = this.ajv.compile({ $ref: 'doc#/definitions/ErrorResponseDto' });
    this.routes = Object.entries(document.paths).flatMap(([template, item]) =>
      Object.entries(item as Record<string, { operationId?: string }>)
        .filter(([m]) => ['get', 'post', 'put', 'patch', 'delete'].includes(m))
        .map(([method, op]) => ({
          method,
          template,
          operationId: op.operationId ?? `${method} ${template}`,
          pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`),
          // Static segments win over parameters, as in the router (`/export` before `/{id}`).
          rank: (template.match(/\{/g) ?? []).length,
        })),
    );
    this.routes.sort((a, b) => a.rank - b.rank);
  }

  private routeOf(method: string, url: string): Route | undefined {
    const path = new URL(url, 'http://x').pathname;
    return this.routes.find((r) => r.method === method.toLowerCase() && r.pattern.test(path));
  }

  /** The operation a request reached: `get /api/v1/workflows/{id}`, or undefined. */
  operationOf(method: string, url: string): string | undefined {
    const route = this.routeOf(method, url);
    return route && `${route.method} ${route.template}`;
  }

  /** The problems with one answer; empty when it is what the document promises. */
  problems(
    method: string,
    url: string,
    answer: Pick<Answer, 'status' | 'body' | 'text' | 'type'>,
  ): string[] {
    const route = this.routeOf(method, url);
    if (!route) return this.unknownRouteProblems(method, url, answer);
    const where = `${route.operationId} (${route.method.toUpperCase()} ${route.template})`;
    const responses = (
      this.document.paths[route.template] as Record<string, { responses: Schema }>
    )[route.method].responses as Responses;
    const declared = responses[String(answer.status)];
    if (!declared) return [`${where} answered ${answer.status}, which it does not declare`];
    const key = `${where} ${answer.status}`;
    // Media types compare without their parameters (`text/csv; charset=utf-8` is text/csv).
    const content = Object.fromEntries(
      Object.entries(declared.content ?? {}).map(([t, media]) => [mediaType(t), media]),
    );
    if (Object.keys(content).length === 0) {
      return answer.text ? [`${key} declares no body but sent one`] : [];
    }
    const type = mediaType(answer.type ?? 'application/json');
    if (!content[type]) {
      return [
        `${key} sent ${type}, which it does not declare (${Object.keys(content).join(', ')})`,
      ];
    }
    const schema = content[type].schema;
    if (type !== 'application/json' || !schema) return [];
    let validate = this.compiled.get(key);
    if (!validate) {
      validate = this.ajv.compile(toJsonSchema(schema));
      this.compiled.set(key, validate);
    }
    return validate(answer.body) ? [] : errorsOf(key, validate);
  }

  /**
   * A path the document does not have (a typo, a route that does not exist) can only be
   * refused, in the one error shape: 404 (or 405 for a method the path lacks, 400/414 for a
   * malformed URL).
   */
  private unknownRouteProblems(
    method: string,
    url: string,
    answer: Pick<Answer, 'status' | 'body'>,
  ): string[] {
    const where = `${method.toUpperCase()} ${new URL(url, 'http://x').pathname} (not in the document)`;
    if (![400, 404, 405, 414].includes(answer.status)) {
      return [`${where} answered ${answer.status}: only a refusal is possible for it`];
    }
    return this.errorSchema(answer.body)
      ? []
      : errorsOf(`${where} ${answer.status}`, this.errorSchema);
  }

  /** Fails the test with every problem when a supertest answer breaks the contract. */
  expect(res: Answer & { req: { method: string; path: string } }): void {
    expect(this.problems(res.req.method, res.req.path, res)).toEqual([]);
  }
}

function mediaType(contentType: string): string {
  return contentType.split(';')[0].trim().toLowerCase();
}

function errorsOf(key: string, validate: ValidateFunction): string[] {
  return (validate.errors ?? []).map(
    (e) => `${key}: body${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`,
  );
}

const UNCHECKED = Symbol('uncheckedByContract');
const METHODS = ['get', 'post', 'put', 'patch', 'delete', 'head', 'options'] as const;

interface HookableTest {
  method: string;
  url: string;
  [UNCHECKED]?: boolean;
  assert(err: unknown, res: unknown, fn?: (err: unknown, res: unknown) => void): void;
}
interface SupertestResponse {
  status: number;
  body: unknown;
  text?: string;
  type?: string;
}

/**
 * Makes every request sent through `agent` check its answer against the document (lazily
 * built on first use): after the test's own `.expect(...)`s pass, a mismatch fails the
 * request (`await` rejects, `.expect` chains fail) with an error naming the operation, the
 * status and each problem. A request meant to leave the contract (a deliberately undocumented
 * test route, the docs themselves) says so with `outsideContract(req)`.
 */
export function checkedAgent<A extends object>(
  agent: A,
  document: () => OpenAPIObject,
  options: { exempt?: RegExp } = {},
): A {
  let contract: Contract | undefined;
  const target = agent as unknown as Record<string, (...args: unknown[]) => HookableTest>;
  for (const method of METHODS) {
    const send = target[method].bind(agent);
    target[method] = (...args: unknown[]) => {
      const test = send(...args);
      const assert = test.assert.bind(test);
      test.assert = (resError, res, fn) =>
        assert(resError, res, (err, answer) => {
          const r = answer as SupertestResponse | undefined;
          const exempt = options.exempt?.test(new URL(test.url, 'http://x').pathname) === true;
          if (!err && r && !test[UNCHECKED] && !exempt) {
            contract ??= new Contract(document());
            const problems = contract.problems(test.method, test.url, r);
            if (problems.length > 0) {
              err = new Error(
                `The answer breaks the OpenAPI document:\n- ${problems.join('\n- ')}`,
              );
            }
          }
          fn?.(err, answer);
        });
      return test;
    };
  }
  return agent;
}

/**
 * The test app's agent (`t.http`): every answer held to the app's own document, except the
 * document itself and the tests' fixture routes (`/api/v1/test-*`, not the product's API).
 */
export function contractCheckedAgent(app: NestFastifyApplication) {
  return checkedAgent(request.agent(app.getHttpServer()), () => buildOpenApiDocument(app), {
    exempt: /^\/docs(-json)?$|^\/api\/v1\/test-/,
  });
}

/** Exempts one request from the contract check (say why at the call site). */
export function outsideContract<T extends object>(req: T): T {
  Object.assign(req, { [UNCHECKED]: true });
  return req;
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
