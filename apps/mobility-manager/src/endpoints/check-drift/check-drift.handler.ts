import type { DriftCheckRequest, DriftReply } from '@locus/contracts';
import type { DriftDetector } from '../../processes/detect-drift/drift-detector';

/** `drift.check`: compare every plane (or the VMs named) with the location DB now, and repair the hypervisors' disagreements. */
export class CheckDriftHandler {
  constructor(private readonly detector: DriftDetector) {}

  handle(req: DriftCheckRequest): Promise<DriftReply> {
    return this.detector.check(req);
  }
}
