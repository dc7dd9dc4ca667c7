import { ValidateBy } from 'class-validator';

export interface SecretMapRules {
  maxKeys: number;
  keyPattern: RegExp;
  /** How keys are described in the message. */
  keys: string;
  maxValueLength: number;
  valuePattern?: RegExp;
  /** PATCH: `null` removes a name. */
  nullable?: boolean;
  /** HTTP header names: two names that differ only in case are one header. */
  caseInsensitiveKeys?: boolean;
}

/** Names that collide once case is ignored (`Authorization` and `authorization`). */
export function caseCollisions(names: Iterable<string>): string[] {
  const seen = new Map<string, string>();
  const clashes: string[] = [];
  for (const name of names) {
    const other = seen.get(name.toLowerCase());
    if (other !== undefined) clashes.push(`${other}/${name}`);
    else seen.set(name.toLowerCase(), name);
  }
  return clashes;
}

/** A map of secret values (`env`, `headers`): a plain object of strings (or null in a PATCH). */
export function IsSecretMap(rules: SecretMapRules): PropertyDecorator {
  const valid = (value: unknown): boolean => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
    const entries = Object.entries(value as Record<string, unknown>);
    return (
      entries.length <= rules.maxKeys &&
      entries.every(
        ([k, v]) =>
          rules.keyPattern.test(k) &&
          ((v === null && rules.nullable === true) ||
            (typeof v === 'string' &&
              v.length <= rules.maxValueLength &&
              (!rules.valuePattern || rules.valuePattern.test(v)))),
      ) &&
      (!rules.caseInsensitiveKeys || caseCollisions(entries.map(([k]) => k)).length === 0)
    );
  };
  return ValidateBy({
    name: 'isSecretMap',
    validator: {
      validate: valid,
      defaultMessage: (args) =>
        `${args?.property} must be an object of at most ${rules.maxKeys} entries: keys ${rules.keys}, ` +
        `values strings of up to ${rules.maxValueLength} characters` +
        (rules.valuePattern ? ' without control characters' : '') +
        (rules.nullable ? ' (or null to remove the name)' : '') +
        (rules.caseInsensitiveKeys ? '; names must differ in more than case' : ''),
    },
  });
}
