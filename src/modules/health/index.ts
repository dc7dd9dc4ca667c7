/** Health's public face: the only file other modules import from. */
export { HealthModule } from './health.module';
