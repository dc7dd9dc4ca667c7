import { HttpStatus } from '@nestjs/common';

/**
 * An error that services throw to say what went wrong in domain terms; the exception
 * filter maps it to HTTP. Services stay free of HTTP exceptions.
 */
export class DomainError extends Error {
  /** Several problems at once (answered as `message: string[]`, like validation errors). */
  readonly messages?: string[];

  constructor(
    message: string | string[],
    readonly status: HttpStatus,
  ) {
    super(Array.isArray(message) ? message.join('; ') : message);
    if (Array.isArray(message)) this.messages = message;
    this.name = new.target.name;
  }
}

export class NotFoundError extends DomainError {
  constructor(what: string, id: string | number) {
    super(`${what} ${id} not found`, HttpStatus.NOT_FOUND);
  }
}

export class ConflictError extends DomainError {
  constructor(message: string) {
    super(message, HttpStatus.CONFLICT);
  }
}

export class InvalidInputError extends DomainError {
  constructor(message: string | string[]) {
    super(message, HttpStatus.BAD_REQUEST);
  }
}

/** The caller is known but may not do this particular thing (beyond what `@Roles` checks). */
export class ForbiddenError extends DomainError {
  constructor(message: string) {
    super(message, HttpStatus.FORBIDDEN);
  }
}
