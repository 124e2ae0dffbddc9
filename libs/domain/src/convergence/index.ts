export * from './move-convergence';
export * from './convergence-summary';
export * from './drift';
export * from './drift-plan';
export * from './host-drift';
export * from './convergence-input';
export * from './move-board';
export * from './move-timeline';
