import type { DataSource } from 'typeorm';
import { LocusError, type GetVmRequest, type VmView } from '@locus/contracts';
import { recordedHostState } from '@locus/domain';
import { VmLocationEntity } from '@locus/eventstore';
import type { VmCommandService } from '../../vm-commands/vm-command.service';

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

/**
 * A moving VM's view with what its hypervisor holds as recorded (`hostState`), from the VM's
 * state at least as new as the row; other VMs' views as they are (their `state` says it).
 */
export async function withHostState(row: VmLocationEntity, commands: VmCommandService): Promise<VmView> {
  const view = toVmView(row);
  if (row.state !== 'moving') return view;
  const hostState = recordedHostState((await commands.load(row.name, row.streamVersion)).state);
  return hostState ? { ...view, hostState } : view;
}

/** `vm.get`: where the VM is now, from the authoritative location DB. */
export class GetVmHandler {
  constructor(
    private readonly dataSource: DataSource,
    private readonly commands: VmCommandService,
  ) {}

  async handle(req: GetVmRequest): Promise<{ vm: VmView }> {
    const row = await this.dataSource.getRepository(VmLocationEntity).findOne({ where: { name: req.vm } });
    if (!row) throw new LocusError('UNKNOWN_VM', `no VM named ${req.vm}`);
    return { vm: await withHostState(row, this.commands) };
  }
}
