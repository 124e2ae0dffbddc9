import type { DriftCheckRequest, DriftReply } from '@locus/contracts';
import type { DriftDetector } from './drift-detector';

/** `drift.check`: compare every plane with the location DB now. */
export class CheckDriftHandler {
  constructor(private readonly detector: DriftDetector) {}

  handle(_req: DriftCheckRequest): Promise<DriftReply> {
    return this.detector.check();
  }
}
