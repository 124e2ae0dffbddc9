import { MoreThan, type DataSource, type FindOptionsWhere } from 'typeorm';
import { unknownName, VM_LIST_DEFAULT_LIMIT, type ListVmsReply, type ListVmsRequest } from '@locus/contracts';
import type { TopologyIndex } from '@locus/topology';
import { VmLocationEntity } from '@locus/eventstore';
import { withHostState } from '../get-vm/get-vm.handler';
import type { VmCommandService } from '../../vm-commands/vm-command.service';

/**
 * A page stops before its JSON would outgrow this, whatever `limit` says, so that it always fits
 * in one NATS message (1 MiB max_payload by default); `next` then points to the rest.
 */
export const VM_LIST_MAX_PAGE_BYTES = 768 * 1024;

/**
 * `vm.list`: one page of VMs by name, optionally at one site or on one hypervisor, after the
 * cursor `after` (exclusive): `WHERE name > $after ORDER BY name LIMIT $limit`. `next` is the
 * page's last name when more follow. A site or hypervisor the topology does not have is refused
 * (UNKNOWN_SITE, UNKNOWN_HYPERVISOR), not answered with an empty page.
 */
export class ListVmsHandler {
  constructor(
    private readonly dataSource: DataSource,
    private readonly commands: VmCommandService,
    private readonly topology: TopologyIndex,
  ) {}

  async handle(req: ListVmsRequest): Promise<ListVmsReply> {
    const { sites, hypervisors } = this.topology.topology;
    if (req.site && !this.topology.site(req.site))
      throw unknownName(
        'site',
        req.site,
        sites.map((s) => s.name),
      );
    if (req.hypervisor && !this.topology.hypervisor(req.hypervisor))
      throw unknownName(
        'hypervisor',
        req.hypervisor,
        hypervisors.map((h) => h.name),
      );
    const limit = req.limit ?? VM_LIST_DEFAULT_LIMIT;
    const where: FindOptionsWhere<VmLocationEntity> = {};
    if (req.site) where.site = req.site;
    if (req.hypervisor) where.hypervisor = req.hypervisor;
    if (req.after) where.name = MoreThan(req.after);
    // One row more than asked: whether another page follows, without an empty last page.
    const rows = await this.dataSource.getRepository(VmLocationEntity).find({ where, order: { name: 'ASC' }, take: limit + 1 });
    const vms = [];
    let bytes = 0;
    for (const row of rows.slice(0, limit)) {
      const view = await withHostState(row, this.commands);
      bytes += JSON.stringify(view).length + 1;
      if (bytes > VM_LIST_MAX_PAGE_BYTES && vms.length > 0) break;
      vms.push(view);
    }
    const more = rows.length > vms.length;
    return more ? { vms, next: vms[vms.length - 1]!.name } : { vms };
  }
}
