/** Workflows' public face: the only file other modules import from. */
export { WorkflowsModule } from './workflows.module';
