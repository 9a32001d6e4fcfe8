import { demoWorkflows } from '@runstream/demo-workflows';
import { loadWorkflowModule, type AnyWorkflow } from '@runstream/sdk';
import type { ServerConfig } from './config.js';

/** The workflows a node runs: the module's (RUNSTREAM_WORKFLOWS), with the demos only when there is none or when asked. */
export async function workflowsFor(config: Pick<ServerConfig, 'workflowsModule' | 'demoWorkflows'>): Promise<AnyWorkflow[]> {
  if (!config.workflowsModule) return [...demoWorkflows];
  const { workflows } = await loadWorkflowModule(config.workflowsModule);
  return config.demoWorkflows ? [...demoWorkflows, ...workflows] : workflows;
}
