export * from './names';
export * from './plan';
export * from './iproute2';
export * from './linux-dataplane';
export * from './ping-train';
