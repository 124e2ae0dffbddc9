/** What the agents offer the lab and the tests besides their start function: their metrics. */
export { observeAgents } from './observability/agent-metrics';
