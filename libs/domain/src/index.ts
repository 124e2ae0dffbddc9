export * from './vm/vm.state';
export * from './vm/vm.commands';
export * from './vm/vm.decider';
export * from './vm/location.projection';
export * from './move/move.saga';
export * from './move/move.projection';
export * from './time/clock';
export * from './agent/host-inventory';
