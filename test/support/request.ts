import { requestJson as typedRequestJson } from '@locus/messaging';

/**
 * `requestJson` for tests: a reply is whatever the test then asserts on, so its type defaults to
 * `any` here (production code names the reply it expects; `@locus/messaging`'s default is `unknown`).
 */
export function requestJson<T = any>(...args: Parameters<typeof typedRequestJson>): Promise<T> {
  return typedRequestJson<T>(...args);
}
