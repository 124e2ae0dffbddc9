export * from './arp-decision';
export * from './neighbour-cache';
export * from './lab-neighbours';
