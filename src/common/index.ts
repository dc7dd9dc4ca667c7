/**
 * The shared helpers a feature module uses: domain errors (mapped to HTTP in one place),
 * keyset pagination, find-or-404 / save-or-409, validators. Import them from `@/common`.
 * (Request context, logging and the exception filter are wiring: AppModule sets them up.)
 */
export {
  DomainError,
  NotFoundError,
  ConflictError,
  InvalidInputError,
  ForbiddenError,
} from './errors/domain-error';
export { ErrorResponseDto } from './errors/error-response.dto';
export {
  ApiPathParam,
  ApiStandardErrors,
  MAX_PATH_PARAM_LENGTH,
  ApiUuidParam,
  PatternPipe,
  UuidParam,
  UuidPipe,
  type StandardErrors,
} from './openapi/api-errors.decorator';
export {
  DEFAULT_PAGE_SIZE,
  MAX_PAGE_SIZE,
  decodeCursor,
  encodeCursor,
  invalidCursor,
  toPage,
  type Page,
} from './pagination/cursor';
export { ascendingPage, newestFirstPage } from './pagination/keyset';
export { PageQueryDto } from './pagination/page-query.dto';
export {
  findOr404,
  isUniqueViolation,
  saveOr409,
  type FindOr404Options,
} from './persistence/repository';
export {
  IsJsonObject,
  IsResourceName,
  IsStringRecord,
  RESOURCE_NAME,
  SEMVER,
  UUID,
  rejectNullFields,
} from './validation/validators';
