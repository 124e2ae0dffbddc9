export * from './config';
export * from './logger';
export * from './clock';
export * from './observability';
export * from './repo-root';
export * from './stats';
export * from './event-loop-watch';
