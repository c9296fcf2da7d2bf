import { execFile, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const script = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../scripts/cluster.sh');

/**
 * The three-node cluster of scripts/cluster.sh (clu1..3@localhost on 5681..5683), the same one `npm run
 * bench:scale` uses. Starting it also arms a process exit hook that stops it, so a crashed or interrupted test
 * run does not leave three RabbitMQ nodes behind; `stop` is safe to call twice.
 */
export class LocalCluster {
  private stopped = false;

  private constructor(readonly urls: string[]) {}

  static async start(): Promise<LocalCluster> {
    // A cluster left by a run that was killed outright (SIGKILL skips every hook) goes first.
    spawnSync(script, ['stop'], { stdio: 'ignore', timeout: 240_000 });
    const stopOnExit = () => { spawnSync(script, ['stop'], { stdio: 'ignore', timeout: 240_000 }); };
    process.once('exit', stopOnExit);
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => { stopOnExit(); process.exit(130); });
    try {
      const { stdout } = await run(script, ['start'], { timeout: 300_000 });
      return new LocalCluster(stdout.trim().split('\n').filter((line) => line.startsWith('amqp://')));
    } catch (error) {
      stopOnExit();
      const failure = error as Error & { stderr?: string };
      throw new Error(`the local RabbitMQ cluster did not start: ${failure.message}\n${failure.stderr ?? ''}`);
    }
  }

  /** The node names, in the order of `urls`. */
  get nodes(): string[] {
    return this.urls.map((_, i) => `clu${i + 1}@localhost`);
  }

  /** The URLs with node `index` (0-based) first and the others after it, as a process near that node lists them. */
  urlsFrom(index: number): string[] {
    return [...this.urls.slice(index), ...this.urls.slice(0, index)];
  }

  /** The node that leads a quorum queue now, asked of the nodes that run. */
  async leaderOf(queue: string): Promise<string> {
    const { stdout } = await run(script, ['leader', queue], { timeout: 120_000 });
    return stdout.trim();
  }

  /** `rabbitmqctl -n <node> stop_app`: the node stays, its connections close, its queues elect new leaders. */
  async stopApp(node: string): Promise<void> {
    const index = this.nodes.indexOf(node);
    if (index < 0) throw new Error(`${node} is not a node of the local cluster`);
    await run(script, ['stop-app', String(index + 1)], { timeout: 120_000 });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await run(script, ['stop'], { timeout: 240_000 });
  }
}
