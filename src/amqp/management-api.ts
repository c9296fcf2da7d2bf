import { maskUrl } from '../config/secrets.js';

export interface ManagedQueue {
  ready: number;
  unacked: number;
  consumers: number;
}

/**
 * Queue figures from the management plugin's HTTP API. AMQP 0-9-1 itself only tells ready messages and
 * consumers; unacked counts exist only here. The figures are the broker's statistics, refreshed every
 * few seconds (collect_statistics_interval), not a live count.
 */
export class ManagementApi {
  private readonly base: string;
  private readonly authorization?: string;

  constructor(managementUrl: string, private readonly vhost: string) {
    const url = new URL(managementUrl);
    if (url.username) this.authorization = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
    url.username = '';
    url.password = '';
    this.base = url.toString().replace(/\/$/, '');
  }

  /** The vhost of an AMQP URL: its path, '/' when empty. */
  static vhostOf(amqpUrl: string): string {
    const path = new URL(amqpUrl).pathname;
    return path.length > 1 ? decodeURIComponent(path.slice(1)) : '/';
  }

  async queues(): Promise<Map<string, ManagedQueue>> {
    const url = `${this.base}/api/queues/${encodeURIComponent(this.vhost)}?columns=name,messages_ready,messages_unacknowledged,consumers`;
    const response = await fetch(url, { headers: this.authorization ? { authorization: this.authorization } : {}, signal: AbortSignal.timeout(10_000) });
    if (!response.ok) throw new Error(`${maskUrl(url)} answered ${response.status} ${response.statusText}`);
    const rows = (await response.json()) as Array<{ name: string; messages_ready?: number; messages_unacknowledged?: number; consumers?: number }>;
    return new Map(rows.map((row) => [row.name, { ready: row.messages_ready ?? 0, unacked: row.messages_unacknowledged ?? 0, consumers: row.consumers ?? 0 }]));
  }
}
