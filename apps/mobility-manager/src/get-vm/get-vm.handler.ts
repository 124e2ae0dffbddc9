import type { DataSource } from 'typeorm';
import { LocusError, type GetVmRequest, type VmView } from '@locus/contracts';
import { VmLocationEntity } from '@locus/eventstore';

export function toVmView(row: VmLocationEntity): VmView {
  return {
    name: row.name,
    ip: row.ip.replace(/\/32$/, ''),
    mac: row.mac,
    site: row.site,
    hypervisor: row.hypervisor,
    l2Domain: row.l2Domain,
    state: row.state,
    locationVersion: row.locationVersion,
  };
}

/** `vm.get`: where the VM is now, from the authoritative location DB. */
export class GetVmHandler {
  constructor(private readonly dataSource: DataSource) {}

  async handle(req: GetVmRequest): Promise<{ vm: VmView }> {
    const row = await this.dataSource.getRepository(VmLocationEntity).findOne({ where: { name: req.vm } });
    if (!row) throw new LocusError('UNKNOWN_VM', `no VM named ${req.vm}`);
    return { vm: toVmView(row) };
  }
}
