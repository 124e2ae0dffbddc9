/** The console's start function, for the lab and the tests. */
export { startConsole, type RunningConsole } from './console-server';
