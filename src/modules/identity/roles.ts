/**
 * The roles, and what each may do. `admin` passes every role check; the others are
 * independent (an `editor` who should also read holds `viewer` too, as an IdP would grant).
 */
export const ROLES = ['viewer', 'editor', 'operator', 'auditor', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export const ADMIN: Role = 'admin';

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}
