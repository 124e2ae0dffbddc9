export * from './subjects';
export * from './errors';
export * from './names';
export * from './requests';
export * from './events';
export * from './agent';
export * from './planes';
export * from './routing';
