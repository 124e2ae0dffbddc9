import { InitialSchema1732600000000 } from './1732600000000-InitialSchema';
import { MoveHostIndexes1732700000000 } from './1732700000000-MoveHostIndexes';

/** Every migration, in order. */
export const MIGRATIONS = [InitialSchema1732600000000, MoveHostIndexes1732700000000];
