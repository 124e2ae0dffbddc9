/** What the mapping system offers the lab, the tools and the tests besides its start function: its site keys, options and metrics. */
export { generateKeySeed, keyMaterialFromEnv, keyMaterialOrGenerated, siteMac, signedFor, writeKeyFile } from './shared/site-keys';
export type { MappingOptions } from './mapping-options';
export { observeMappingSystem } from './observability/mapping-metrics';
