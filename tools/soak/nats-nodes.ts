import { join } from 'node:path';
import { connect } from 'nats';
import { freePorts, until, type Child, type ChildSet } from '../bench/lab';

/**
 * The soak's NATS: one nats-server, or three in a JetStream cluster (routes on loopback, each with
 * its own store) whose event stream the manager creates with 3 replicas. Any node can be killed and
 * started again on the same ports and store, as a supervisor would.
 */
export class NatsNodes {
  private readonly nodes: { name: string; port: number; clusterPort: number; child?: Child }[] = [];

  private constructor(
    private readonly children: ChildSet,
    private readonly binary: string,
    private readonly dir: string,
  ) {}

  static async start(children: ChildSet, binary: string, dir: string, count: 1 | 3): Promise<NatsNodes> {
    const n = new NatsNodes(children, binary, dir);
    const ports = await freePorts(2 * count);
    for (let i = 0; i < count; i++) n.nodes.push({ name: `nats-${i + 1}`, port: ports[2 * i], clusterPort: ports[2 * i + 1] });
    // A cluster elects its JetStream meta leader only once a quorum runs: start all, then wait.
    for (const node of n.nodes) n.spawn(node);
    await Promise.all(n.nodes.map((node) => n.ready(node)));
    return n;
  }

  /** NATS_URL for clients: every node, comma-separated. */
  get url(): string {
    return this.nodes.map((x) => `nats://127.0.0.1:${x.port}`).join(',');
  }

  get names(): string[] {
    return this.nodes.map((x) => x.name);
  }

  get clustered(): boolean {
    return this.nodes.length > 1;
  }

  child(name: string): Child {
    return this.node(name).child!;
  }

  /** Starts a killed node again on its ports and store, and waits until it answers JetStream requests. */
  async restart(name: string): Promise<void> {
    const node = this.node(name);
    this.spawn(node);
    await this.ready(node);
  }

  private node(name: string) {
    const node = this.nodes.find((x) => x.name === name);
    if (!node) throw new Error(`no NATS node ${name}`);
    return node;
  }

  private spawn(node: (typeof this.nodes)[number]): void {
    const args = ['-a', '127.0.0.1', '-p', String(node.port), '-js', '-sd', join(this.dir, node.name), '-n', node.name];
    if (this.clustered) {
      const routes = this.nodes.filter((x) => x !== node).map((x) => `nats://127.0.0.1:${x.clusterPort}`);
      args.push('--cluster_name', 'soak', '--cluster', `nats://127.0.0.1:${node.clusterPort}`, '--routes', routes.join(','));
    }
    node.child = this.children.spawn(node.name, this.binary, args, process.env, this.dir);
  }

  private async ready(node: (typeof this.nodes)[number]): Promise<void> {
    const url = `nats://127.0.0.1:${node.port}`;
    await until(
      `${node.name} to serve JetStream`,
      async () => {
        const nc = await connect({ servers: url, maxReconnectAttempts: 0, timeout: 500 });
        try {
          await (await nc.jetstreamManager({ timeout: 1000 })).getAccountInfo();
          return true;
        } finally {
          await nc.close();
        }
      },
      30_000,
      [node.child!],
    );
  }
}
