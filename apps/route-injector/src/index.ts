/** What the route injector offers the lab, the tools and the tests besides its start function: its RIB fabrics and metrics. */
export { InMemoryFabric } from './rib/in-memory-rib';
export { gobgpdBinary, startGoBgpFabric, type GoBgpFabric } from './lab-bgp/gobgp-fabric';
export { observeRouteInjectors } from './observability/route-metrics';
