import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { MoveRow } from '@locus/domain';

/** The authoritative location database: one row per VM. Written only by the projector. */
@Entity({ name: 'vm_location' })
export class VmLocationEntity {
  @PrimaryColumn({ type: 'text' }) name!: string;
  @Column({ type: 'inet' }) ip!: string;
  @Column({ type: 'macaddr' }) mac!: string;
  @Column({ type: 'text', name: 'l2_domain' }) l2Domain!: string;
  @Column({ type: 'text' }) site!: string;
  @Column({ type: 'text' }) hypervisor!: string;
  @Column({ type: 'integer', name: 'memory_mb' }) memoryMb!: number;
  @Column({ type: 'text' }) state!: 'running' | 'stopped' | 'moving';
  @Column({ type: 'integer', name: 'location_version' }) locationVersion!: number;
  @Column({ type: 'integer', name: 'stream_version' }) streamVersion!: number;
  @Column({ type: 'timestamptz', name: 'updated_at' }) updatedAt!: Date;
}

@Entity({ name: 'moves' })
export class MoveEntity {
  @PrimaryColumn({ type: 'uuid', name: 'move_id' }) moveId!: string;
  @Column({ type: 'text' }) vm!: string;
  @Column({ type: 'text' }) state!: string;
  @Column({ type: 'text', name: 'request_id', nullable: true }) requestId!: string | null;
  @Column({ type: 'timestamptz', name: 'accepted_at' }) acceptedAt!: Date;
  @Column({ type: 'jsonb' }) view!: MoveRow;
}
