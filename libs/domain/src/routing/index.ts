export * from './host-route';
export * from './route-tracker';
export * from './route-plan';
export * from './originators';
