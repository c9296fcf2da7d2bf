import { randomBytes } from 'node:crypto';
import amqp from 'amqplib';
import pg from 'pg';

/** The real services the integration tests talk to; a missing one fails the test loudly, never skips it. */
export const amqpUrl = process.env.EXCHANGE_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
/** The management plugin's API; `.ci/run` enables the plugin. */
export const managementUrl = process.env.EXCHANGE_TEST_MANAGEMENT_URL ?? 'http://guest:guest@127.0.0.1:15672';
export const pgUrl = process.env.EXCHANGE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A name no other test uses; it carries the run's mark (global-setup.ts), so the run's leftovers can be found. */
export function uniqueName(prefix: string): string {
  return `${prefix}${process.env.EXCHANGE_TEST_RUN ?? ''}${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
}

/** A fresh PostgreSQL schema; the URL puts it first on the search path. */
export async function createPgSchema(): Promise<{ url: string; schema: string; drop: () => Promise<void> }> {
  const schema = uniqueName('t_');
  const client = new pg.Client(pgUrl);
  try {
    await client.connect();
  } catch (error) {
    throw new Error(`PostgreSQL is required at ${pgUrl} for this test: ${(error as Error).message}`);
  }
  await client.query(`CREATE SCHEMA ${schema}`);
  await client.end();
  const url = `${pgUrl}${pgUrl.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  return {
    url,
    schema,
    drop: async () => {
      const admin = new pg.Client(pgUrl);
      await admin.connect();
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
    },
  };
}

export async function connectBroker(): Promise<amqp.ChannelModel> {
  try {
    return await amqp.connect(amqpUrl);
  } catch (error) {
    throw new Error(`RabbitMQ is required at ${amqpUrl} for this test: ${(error as Error).message}`);
  }
}
