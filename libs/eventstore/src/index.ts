export * from './event-store';
export * from './data-source';
export * from './outbox/outbox-relay';
export * from './projections/entities';
export * from './projections/vm-projector';
export * from './projections/rebuild';
export * from './migrations';
export * from './group-commit';
