/**
 * Identity's public face: the only file other modules import from. `@Roles` / `@Public`
 * declare who may call a route; `IdentityModule` installs the guard that enforces them.
 */
export { Roles, Public, accessRuleOf, type AccessRule } from './access.decorators';
export { ROLES, type Role } from './roles';
export { IdentityModule } from './identity.module';
