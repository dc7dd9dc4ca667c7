export const REDACTED = '[REDACTED]';

const SECRET_PARTS = [
  'password',
  'passwd',
  'secret',
  'authorization',
  'credential',
  'privatekey',
  'apikey',
];
const SECRET_SUFFIXES = ['token', 'accesskey', 'cookie'];

/**
 * Keys whose values are secrets wherever they appear (case-insensitive, any depth, `-`/`_`
 * ignored): `password`, `dbPassword`, `client_secret`, `apiKey`, `X-API-Key`,
 * `authorization`, `accessToken`… but not `maxTokens`.
 */
export function isSecretKey(key: string): boolean {
  const k = key.toLowerCase().replace(/[-_\s]/g, '');
  return SECRET_PARTS.some((p) => k.includes(p)) || SECRET_SUFFIXES.some((s) => k.endsWith(s));
}

/**
 * A deep copy of `value` with every secret replaced by `"[REDACTED]"`:
 * - values under secret-looking keys (`password`, `apiKey`, `token`, … at any depth);
 * - every value of an `env` map (any case), or after `=` in an `env` list of `K=V` strings;
 * - in an UPDATE's `changes`, both sides of a secret field's `{ from, to }` (the shape stays);
 * - the password of a URL (`https://user:[REDACTED]@host`) and secret-looking query
 *   parameters (`?api_key=[REDACTED]`) inside any string;
 * - in an argument list, the value after a secret-looking flag (`--api-key [REDACTED]`,
 *   `--token=[REDACTED]`).
 */
export function redact<T>(value: T): T {
  return redactValue(value) as T;
}

function redactValue(value: unknown): unknown {
  if (Array.isArray(value)) return redactArgs(value.map((v) => redactValue(v)));
  if (value !== null && typeof value === 'object') {
    if (value instanceof Date) return value.toISOString();
    // Redact what will be stored: an object that says how it serializes (a sealed secret
    // says "[REDACTED]") is redacted as that.
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') return redactValue(toJSON.call(value));
    const out: Record<string, unknown> = {};
    for (const [rawKey, v] of Object.entries(value) as [string, unknown][]) {
      const key = wellFormed(rawKey);
      if (isSecretKey(key)) out[key] = mask(v);
      else if (key.toLowerCase() === 'env') out[key] = redactEnv(v);
      else if (key === 'changes' && isChangeSet(v)) out[key] = redactChanges(v);
      else out[key] = redactValue(v);
    }
    return out;
  }
  return typeof value === 'string' ? redactString(wellFormed(value)) : value;
}

function mask(value: unknown): unknown {
  return value === null || value === undefined ? value : REDACTED;
}

type Diff = { from: unknown; to: unknown };

/** `{ field: { from, to }, … }`: an UPDATE's diff (see change-capture.ts). */
function isChangeSet(value: unknown): value is Record<string, Diff> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  return Object.values(value as Record<string, unknown>).every(
    (d) =>
      d !== null &&
      typeof d === 'object' &&
      !Array.isArray(d) &&
      Object.keys(d).every((k) => k === 'from' || k === 'to'),
  );
}

/**
 * In a diff the key is the field's name and the value its `{ from, to }`: a secret field
 * keeps that shape with both sides masked (`env` keeps its names, values masked), so every field's diff reads the same
 * (`changes.apiToken.from`), and says that the secret changed, never what it was.
 */
function redactChanges(changes: Record<string, Diff>): Record<string, Diff> {
  const out: Record<string, Diff> = {};
  for (const [rawField, diff] of Object.entries(changes)) {
    const field = wellFormed(rawField);
    if (field.toLowerCase() === 'env') {
      // The names of a secret map stay (which variables changed), every value goes.
      out[field] = { from: redactEnv(diff.from), to: redactEnv(diff.to) };
    } else if (isSecretKey(field)) {
      out[field] = { from: mask(diff.from), to: mask(diff.to) };
    } else {
      out[field] = { from: redactValue(diff.from), to: redactValue(diff.to) };
    }
  }
  return out;
}

function redactEnv(env: unknown): unknown {
  if (env === null || env === undefined) return env;
  if (Array.isArray(env)) {
    return env.map((e) =>
      typeof e === 'string' && e.includes('=')
        ? `${e.slice(0, e.indexOf('='))}=${REDACTED}`
        : REDACTED,
    );
  }
  // Keys stay, every leaf goes: `{ A: "x" }` → `{ A: "[REDACTED]" }`, and a diff of names
  // `{ from: { A: … }, to: { A: …, B: … } }` keeps saying which names changed.
  if (typeof env === 'object')
    return Object.fromEntries(
      Object.entries(env as Record<string, unknown>).map(([k, v]) => [
        wellFormed(k),
        isPlainObject(v) ? redactEnv(v) : REDACTED,
      ]),
    );
  return REDACTED;
}

const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^/\s:@]*:)[^@/\s]*@/gi;
const QUERY_PARAM = /([?&;])([^=&#;\s]+)=([^&#;\s]*)/g;

function redactString(s: string): string {
  if (!s.includes('://') && !s.includes('=')) return s;
  return s
    .replace(URL_PASSWORD, `$1${REDACTED}@`)
    .replace(QUERY_PARAM, (all, sep: string, name: string) =>
      isSecretKey(name) ? `${sep}${name}=${REDACTED}` : all,
    );
}

const FLAG = /^--?([A-Za-z][\w-]*)(?:=(.*))?$/;

/** `["--api-key", "sk-1", "--token=t"]` → `["--api-key", "[REDACTED]", "--token=[REDACTED]"]`. */
function redactArgs(list: unknown[]): unknown[] {
  const out = [...list];
  for (let i = 0; i < out.length; i++) {
    const item = out[i];
    if (typeof item !== 'string') continue;
    const flag = FLAG.exec(item);
    if (!flag || !isSecretKey(flag[1])) continue;
    if (flag[2] !== undefined) out[i] = `${item.slice(0, item.indexOf('=') + 1)}${REDACTED}`;
    else if (typeof out[i + 1] === 'string') out[++i] = REDACTED;
  }
  return out;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** PostgreSQL's jsonb refuses lone UTF-16 surrogates; store U+FFFD as the pg driver does for text. */
function wellFormed(s: string): string {
  return s.replace(LONE_SURROGATE, '\ufffd');
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}
