import type { ActionLogInput } from '../audit.types';
import { REDACTED } from '../capture/redaction';
import {
  AuditValidationError,
  validateEntry,
  type KnownEntityTypes,
} from './audit-entry.validator';

const types: KnownEntityTypes = {
  has: (t) => ['MCP_DEFINITION', 'INVOICE'].includes(t),
  list: () => ['INVOICE', 'MCP_DEFINITION'],
};

const valid: ActionLogInput = {
  actorId: 'user123',
  actionType: 'CREATE',
  entityType: 'MCP_DEFINITION',
  entityId: 1,
  details: { name: 'New MCP' },
};

describe(validateEntry.name, () => {
  it('returns the entry ready to store: id as a string, details redacted and serialized', () => {
    expect(validateEntry({ ...valid, details: { name: 'x', apiKey: 'sk-1' } }, types)).toEqual({
      actorId: 'user123',
      actionType: 'CREATE',
      entityType: 'MCP_DEFINITION',
      entityId: '1',
      details: JSON.stringify({ name: 'x', apiKey: REDACTED }),
      outcome: 'SUCCESS',
      actorRoles: [],
    });
    expect(validateEntry({ ...valid, details: undefined }, types).details).toBeNull();
    expect(validateEntry({ ...valid, details: null }, types).details).toBeNull();
  });

  const cases: [string, Partial<Record<keyof ActionLogInput, unknown>>, RegExp][] = [
    ['an invalid action type', { actionType: 'EXPLODE' }, /actionType must be one of CREATE/],
    ['a lower-case action type', { actionType: 'create' }, /actionType/],
    ['an unknown entity type', { entityType: 'SPACESHIP' }, /"SPACESHIP" is unknown; known: INV/],
    ['a missing entity type', { entityType: undefined }, /entityType/],
    ['an empty entity id', { entityId: '' }, /entityId is required/],
    ['a blank entity id', { entityId: '   ' }, /entityId is required/],
    ['a NaN entity id', { entityId: Number.NaN }, /entityId is required/],
    ['an oversized entity id', { entityId: 'x'.repeat(257) }, /entityId must be at most 256/],
    ['a missing actor', { actorId: undefined }, /actorId is required/],
    ['an oversized actor', { actorId: 'a'.repeat(129) }, /actorId must be at most 128/],
    ['details that are an array', { details: [1, 2] }, /details must be a JSON object/],
    ['details over the size cap', { details: { b: 'x'.repeat(1100 * 1024) } }, /at most/],
    ['details holding a NUL character', { details: { s: 'a\u0000b' } }, /NUL/],
    ['an unknown outcome', { outcome: 'MAYBE' }, /outcome must be one of SUCCESS/],
    ['roles that are not a list', { actorRoles: 'admin' }, /actorRoles must be/],
    ['a role with spaces', { actorRoles: ['a b'] }, /actorRoles must be/],
    ['too many roles', { actorRoles: Array.from({ length: 33 }, (_, i) => `r${i}`) }, /at most 32/],
  ];
  it.each(cases)('refuses %s with an error naming the field', (_, patch, message) => {
    const input = { ...valid, ...patch } as ActionLogInput;
    expect(() => validateEntry(input, types)).toThrow(AuditValidationError);
    expect(() => validateEntry(input, types)).toThrow(message);
  });

  it('keeps the outcome and roles, and accepts the entity id of an attempt that named none', () => {
    expect(
      validateEntry(
        { ...valid, entityId: '-', outcome: 'DENIED', actorRoles: ['auditor', 'viewer'] },
        types,
      ),
    ).toMatchObject({ entityId: '-', outcome: 'DENIED', actorRoles: ['auditor', 'viewer'] });
  });

  it('refuses something that is not an object', () => {
    expect(() => validateEntry(null as unknown as ActionLogInput, types)).toThrow(
      'entry must be an object',
    );
  });
});
