/**
 * Step inputs may refer to the run's parameters and to earlier steps' outputs:
 * `{{ parameters.path }}`, `{{ steps.read.output.content }}`. Plain property lookups (own
 * properties only, array indexes as numbers), no expressions, no code: nothing is evaluated.
 * A string that is one template keeps the referenced value's JSON type; a template inside a
 * longer string is replaced by the value's text (strings as they are, the rest as JSON).
 */
export interface TemplateScope {
  parameters: Record<string, unknown>;
  steps: Record<string, { output: unknown }>;
}

export class TemplateError extends Error {}

const SEGMENT = '[A-Za-z_$][A-Za-z0-9_$-]*|\\d+';
const PATH = `(?:${SEGMENT})(?:\\.(?:${SEGMENT}))*`;
const WHOLE = new RegExp(`^\\{\\{\\s*(${PATH})\\s*\\}\\}$`);
const ANY = /\{\{([^{}]*)\}\}/g;
const VALID = new RegExp(`^\\s*(${PATH})\\s*$`);

/** `input` with every template replaced; throws `TemplateError` naming the field. */
export function renderInput(input: unknown, scope: TemplateScope, at = 'input'): unknown {
  if (typeof input === 'string') return renderString(input, scope, at);
  if (Array.isArray(input)) return input.map((v, i) => renderInput(v, scope, `${at}.${i}`));
  if (input !== null && typeof input === 'object') {
    return Object.fromEntries(
      Object.entries(input).map(([k, v]) => [k, renderInput(v, scope, `${at}.${k}`)]),
    );
  }
  return input;
}

function renderString(text: string, scope: TemplateScope, at: string): unknown {
  const whole = WHOLE.exec(text);
  if (whole) return lookup(whole[1], scope, at);
  return text.replace(ANY, (_match, inner: string) => {
    const path = VALID.exec(inner);
    if (!path)
      throw new TemplateError(`${at}: "{{${inner}}}" is not a path such as parameters.name`);
    const value = lookup(path[1], scope, at);
    return typeof value === 'string' ? value : JSON.stringify(value);
  });
}

function lookup(path: string, scope: TemplateScope, at: string): unknown {
  const [root, ...rest] = path.split('.');
  if (root !== 'parameters' && root !== 'steps') {
    throw new TemplateError(`${at}: {{ ${path} }} must start with parameters. or steps.`);
  }
  let value: unknown = scope;
  let walked = '';
  for (const key of [root, ...rest]) {
    walked = walked ? `${walked}.${key}` : key;
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, key)) {
      throw new TemplateError(`${at}: {{ ${path} }} does not resolve (no ${walked})`);
    }
    value = (value as Record<string, unknown>)[key];
  }
  if (value === undefined) throw new TemplateError(`${at}: {{ ${path} }} does not resolve`);
  return value;
}
