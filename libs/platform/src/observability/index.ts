export * from './catalog';
export * from './metrics';
export * from './health';
export * from './server';
export * from './service';
