export * from './move-convergence';
export * from './convergence-summary';
export * from './drift';
export * from './host-drift';
