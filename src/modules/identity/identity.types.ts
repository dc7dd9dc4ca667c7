import type { FastifyRequest } from 'fastify';
import type { Role } from './roles';

/** Who is calling: the actor recorded in the audit trail and the roles it holds. */
export interface Identity {
  actorId: string;
  roles: Role[];
}

/**
 * Turns a request into an identity, or throws: 400 for a malformed claim (header mode),
 * 401 when no identity can be verified (jwt mode). Messages never carry token contents.
 */
export interface Authenticator {
  authenticate(req: FastifyRequest): Promise<Identity>;
}

export const AUTHENTICATOR = Symbol('Authenticator');
