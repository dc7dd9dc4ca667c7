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
 * A deep copy of `value` with every secret replaced by `"[REDACTED]"`: values under
 * secret-looking keys, and every value of an `env` map (environment variables are secrets).
 */
export function redact<T>(value: T): T {
  return redactValue(value, false) as T;
}

function redactValue(value: unknown, allSecret: boolean): unknown {
  if (Array.isArray(value)) return value.map((v) => redactValue(v, allSecret));
  if (value !== null && typeof value === 'object') {
    if (value instanceof Date) return value.toISOString();
    const out: Record<string, unknown> = {};
    for (const [rawKey, v] of Object.entries(value) as [string, unknown][]) {
      const key = wellFormed(rawKey);
      if (allSecret || isSecretKey(key)) out[key] = v === null || v === undefined ? v : REDACTED;
      else if (key === 'env' && v !== null && typeof v === 'object' && !Array.isArray(v)) {
        out[key] = Object.fromEntries(Object.keys(v).map((k) => [k, REDACTED]));
      } else out[key] = redactValue(v, false);
    }
    return out;
  }
  if (allSecret) return REDACTED;
  return typeof value === 'string' ? wellFormed(value) : value;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** PostgreSQL's jsonb refuses lone UTF-16 surrogates; store U+FFFD as the pg driver does for text. */
function wellFormed(s: string): string {
  return s.replace(LONE_SURROGATE, '\ufffd');
}
