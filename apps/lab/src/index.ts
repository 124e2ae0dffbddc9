/** What the lab offers the tests (its main.ts is the program): the lab's one metrics server. */
export { startLabObservability, type LabServices } from './lab-observability';
