// Zod schemas for the lab topology file (topologies/*.yaml) and the TypeScript types inferred from them.
// Structural rules only (shape, formats, ranges); cross-object rules live in validate.ts.
import { z } from 'zod';
import { isCanonicalCidr, isMac, isUnicastMac, normalizeMac, parseCidr } from './net';

export const NAME_PATTERN = /^[a-z0-9][a-z0-9-]*$/;
export const NAME_MAX_LENGTH = 63;

/** Object names end up inside NATS subjects, so: lowercase, digits and '-', no dots, no wildcards. */
export const NameSchema = z
  .string()
  .max(NAME_MAX_LENGTH, `invalid name: at most ${NAME_MAX_LENGTH} characters`)
  .regex(NAME_PATTERN, "invalid name: use lowercase letters, digits and '-' and start with a letter or digit (names are used in NATS subjects)");

export const Ipv4Schema = z.ipv4('invalid IPv4 address');

/** An IPv4 prefix with its host bits cleared, e.g. 10.1.0.0/24. */
export const CidrSchema = z
  .string()
  .refine((v) => parseCidr(v) !== undefined, 'invalid IPv4 CIDR (expected a.b.c.d/len)')
  .refine((v) => parseCidr(v) === undefined || isCanonicalCidr(v), 'CIDR has host bits set (use the network address)');

/** A unicast MAC address, normalised to lowercase colon-separated form. */
export const MacSchema = z
  .string()
  .refine(isMac, 'invalid MAC address')
  .refine((v) => !isMac(v) || isUnicastMac(v), 'MAC address must be unicast (group bit of the first octet set)')
  .transform((v) => (isMac(v) ? normalizeMac(v) : v));

const PositiveInt = z.int().positive();
const NonNegativeInt = z.int().nonnegative();

export const SiteKindSchema = z.enum(['datacenter', 'cloud', 'branch']);
export const L2DomainKindSchema = z.enum(['stretched', 'site-local']);
export const EncapsulationSchema = z.enum(['vlan', 'vxlan']);

export const VLAN_ID_MAX = 4094;
export const VXLAN_VNI_MAX = 16_777_215;

export const WorkloadProfileSchema = z.strictObject({
  /** Memory the guest actively touches; what a pre-copy migration has to move at least once. */
  workingSetMb: PositiveInt,
  /** Rate at which the guest dirties memory during a live migration. */
  dirtyRateMBps: z.number().nonnegative(),
  /** Time from power-on until the workload serves again (cold move). */
  bootMs: NonNegativeInt,
  /** Time for a clean guest shutdown (cold move). */
  shutdownMs: NonNegativeInt,
});

export const WorkloadProfileOverridesSchema = WorkloadProfileSchema.partial();

export const RouterSchema = z.strictObject({
  ip: Ipv4Schema,
  mac: MacSchema,
});

export const AnycastGatewaySchema = z.strictObject({
  subnet: CidrSchema,
  ip: Ipv4Schema,
  mac: MacSchema,
});

export const SiteSchema = z.strictObject({
  name: NameSchema,
  kind: SiteKindSchema,
  /** Routing locator of the site's xTR (LISP-like tunnel endpoint). */
  rloc: Ipv4Schema,
  router: RouterSchema,
  /** The site takes part in /32 host-route injection for moved VMs. */
  hostRoutes: z.boolean().default(false),
  /** The site takes part in the LISP-like EID-to-RLOC mapping system. */
  mappingSystem: z.boolean().default(false),
  /** The hypervisor virtual switch routes (Hyper-V NV / VPC style), so hot moves need no stretched L2. */
  l3VirtualSwitch: z.boolean().default(false),
  /** The site router answers ARP on behalf of VMs that moved away. */
  arpProxy: z.boolean().default(false),
  /** First-hop gateways carried at this site: same IP and virtual MAC at every site carrying the subnet. */
  anycastGateways: z.array(AnycastGatewaySchema).default([]),
});

export const L2DomainSchema = z.strictObject({
  name: NameSchema,
  kind: L2DomainKindSchema,
  sites: z.array(NameSchema).min(1, 'an L2 domain needs at least one site'),
  encapsulation: EncapsulationSchema,
  /** VLAN id (1..4094) or VXLAN VNI (1..16777215), depending on `encapsulation`. */
  segmentId: z.int().min(1).max(VXLAN_VNI_MAX),
  subnet: CidrSchema,
  gateway: Ipv4Schema,
});

export const HypervisorSchema = z.strictObject({
  name: NameSchema,
  site: NameSchema,
  l2Domains: z.array(NameSchema).default([]),
  memoryMb: PositiveInt,
  /** Migration network bandwidth of the host. */
  linkMbps: z.number().positive(),
  /** Storage bandwidth of the host (warm moves write/read memory images). */
  diskMBps: z.number().positive(),
});

export const VmSchema = z.strictObject({
  name: NameSchema,
  ip: Ipv4Schema,
  mac: MacSchema,
  l2Domain: NameSchema,
  memoryMb: PositiveInt,
  profile: NameSchema,
  profileOverrides: WorkloadProfileOverridesSchema.optional(),
  /** Initial placement. */
  hypervisor: NameSchema,
});

export const TopologySchema = z.strictObject({
  name: NameSchema,
  workloadProfiles: z.record(NameSchema, WorkloadProfileSchema).default({}),
  sites: z.array(SiteSchema),
  l2Domains: z.array(L2DomainSchema).default([]),
  hypervisors: z.array(HypervisorSchema).default([]),
  vms: z.array(VmSchema).default([]),
});

export type SiteKind = z.output<typeof SiteKindSchema>;
export type L2DomainKind = z.output<typeof L2DomainKindSchema>;
export type Encapsulation = z.output<typeof EncapsulationSchema>;
export type WorkloadProfile = z.output<typeof WorkloadProfileSchema>;
export type WorkloadProfileOverrides = z.output<typeof WorkloadProfileOverridesSchema>;
export type Router = z.output<typeof RouterSchema>;
export type AnycastGateway = z.output<typeof AnycastGatewaySchema>;
export type Site = z.output<typeof SiteSchema>;
export type L2Domain = z.output<typeof L2DomainSchema>;
export type Hypervisor = z.output<typeof HypervisorSchema>;
export type Vm = z.output<typeof VmSchema>;
/** A parsed topology (defaults applied, MACs normalised). Only trust it after validateTopology said ok. */
export type Topology = z.output<typeof TopologySchema>;
/** What may be written in the YAML file (optional fields with defaults may be omitted). */
export type TopologyInput = z.input<typeof TopologySchema>;
