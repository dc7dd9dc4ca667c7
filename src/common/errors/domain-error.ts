import { HttpStatus } from '@nestjs/common';

/**
 * An error that services throw to say what went wrong in domain terms; the exception
 * filter maps it to HTTP. Services stay free of HTTP exceptions.
 */
export class DomainError extends Error {
  constructor(
    message: string,
    readonly status: HttpStatus,
  ) {
    super(message);
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
  constructor(message: string) {
    super(message, HttpStatus.BAD_REQUEST);
  }
}
