export * from './net';
export * from './schema';
export * from './validate';
export * from './topology';
export * from './load';
export * from './generate';
