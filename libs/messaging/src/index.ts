export * from './connection';
export * from './streams';
export * from './publisher';
export * from './json-endpoint';
export * from './durable-consumer';
export * from './nats-service.transport';
export * from './plane-publisher';
export * from './trace';
