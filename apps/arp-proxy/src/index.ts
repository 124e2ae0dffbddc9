/** What the ARP proxies offer the lab besides their start function: their metrics. */
export { observeArpProxies } from './observability/arp-metrics';
