import { InitialSchema1732600000000 } from './1732600000000-InitialSchema';
import { MoveHostIndexes1732700000000 } from './1732700000000-MoveHostIndexes';
import { VmMemory1732800000000 } from './1732800000000-VmMemory';
import { OutboxVacuum1732900000000 } from './1732900000000-OutboxVacuum';
import { HostMemory1733000000000 } from './1733000000000-HostMemory';
import { MoveHostColumns1733100000000 } from './1733100000000-MoveHostColumns';
import { HostHeadingMemory1733200000000 } from './1733200000000-HostHeadingMemory';
import { HostLoad1733300000000 } from './1733300000000-HostLoad';

/** Every migration, in order. */
export const MIGRATIONS = [
  InitialSchema1732600000000,
  MoveHostIndexes1732700000000,
  VmMemory1732800000000,
  OutboxVacuum1732900000000,
  HostMemory1733000000000,
  MoveHostColumns1733100000000,
  HostHeadingMemory1733200000000,
  HostLoad1733300000000,
];
