import type { ChannelModel } from 'amqplib';
import { closeAmqp, connectAmqp } from '../amqp/connect.js';
import { resolveRecordStoreUrl, type LoadedConfig } from '../config/load-config.js';
import type { ExchangeConfig } from '../config/schema.js';
import { openRecordStore } from '../recordstore/open-record-store.js';
import type { RecordStore } from '../recordstore/record-store.js';
import type { Reporter } from './reporter.js';

/**
 * What a job may use, opened on first use and closed once: a job that only reads the record store
 * never connects to RabbitMQ, and a broker that is down costs only the jobs that need it.
 */
export class JobContext {
  readonly config: ExchangeConfig;
  private store?: Promise<RecordStore>;
  private amqp?: Promise<ChannelModel>;

  constructor(readonly loaded: LoadedConfig, readonly reporter: Reporter) {
    this.config = loaded.config;
  }

  recordStore(): Promise<RecordStore> {
    this.store ??= openRecordStore(resolveRecordStoreUrl(this.loaded), { sqliteSynchronous: this.config.recordStore.sqliteSynchronous });
    return this.store;
  }

  connection(): Promise<ChannelModel> {
    this.amqp ??= connectAmqp(this.config.amqp.urls ?? this.config.amqp.url, {
      timeoutMs: this.config.amqp.connectTimeoutMs,
      heartbeatSeconds: this.config.amqp.heartbeatSeconds,
      onFallback: (connectedTo, refused) => this.reporter.warn(`connected to RabbitMQ at ${connectedTo}; earlier nodes of amqp.urls did not answer: ${refused.join('; ')}`),
    }).then((connection) => {
      // Publishes wait for 'unblocked' up to amqp.confirmTimeoutMs (ConfirmPublisher); say why meanwhile.
      connection.on('blocked', (reason: string) => this.reporter.warn(`RabbitMQ blocked the connection (${reason}): publishing waits up to ${this.config.amqp.confirmTimeoutMs} ms`));
      connection.on('unblocked', () => this.reporter.info('RabbitMQ unblocked the connection'));
      return connection;
    });
    return this.amqp;
  }

  /**
   * Drops the connection (already lost: only its handles are let go) and connects again, to the first node of
   * amqp.urls that answers. A refusal rejects as the first connect would: exit 69.
   */
  async reconnect(): Promise<ChannelModel> {
    const lost = this.amqp;
    this.amqp = undefined;
    await lost?.then((c) => closeAmqp(c, this.config.amqp.confirmTimeoutMs), () => undefined).catch(() => undefined);
    return this.connection();
  }

  async close(): Promise<void> {
    const amqp = this.amqp;
    const store = this.store;
    this.amqp = undefined;
    this.store = undefined;
    await Promise.all([
      // Bounded: a blocked broker never answers connection.close, and a cron job must end.
      amqp?.then((c) => closeAmqp(c, this.config.amqp.confirmTimeoutMs), () => undefined).catch(() => undefined),
      store?.then((s) => s.close(), () => undefined).catch(() => undefined),
    ]);
  }
}
