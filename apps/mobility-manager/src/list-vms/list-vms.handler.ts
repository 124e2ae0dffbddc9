import type { DataSource } from 'typeorm';
import type { ListVmsRequest, VmView } from '@locus/contracts';
import { VmLocationEntity } from '@locus/eventstore';
import { toVmView } from '../get-vm/get-vm.handler';

/** `vm.list`: every VM, optionally at one site or on one hypervisor, by name. */
export class ListVmsHandler {
  constructor(private readonly dataSource: DataSource) {}

  async handle(req: ListVmsRequest): Promise<{ vms: VmView[] }> {
    const where: Partial<VmLocationEntity> = {};
    if (req.site) where.site = req.site;
    if (req.hypervisor) where.hypervisor = req.hypervisor;
    const rows = await this.dataSource.getRepository(VmLocationEntity).find({ where, order: { name: 'ASC' } });
    return { vms: rows.map(toVmView) };
  }
}
