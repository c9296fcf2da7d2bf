// Run before the tests (npm pretest): the `exchange status` test reads unacked counts from the RabbitMQ
// management API. On a machine whose broker is local and lacks the plugin, enable it (idempotent, online);
// elsewhere say what is missing and let that test fail loudly.
import { execFileSync } from 'node:child_process';

const url = new URL(process.env.EXCHANGE_TEST_MANAGEMENT_URL ?? 'http://guest:guest@127.0.0.1:15672');
const auth = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
const api = `${url.protocol}//${url.host}/api/overview`;

async function answers() {
  try {
    return (await fetch(api, { headers: { authorization: auth }, signal: AbortSignal.timeout(2000) })).ok;
  } catch {
    return false;
  }
}

if (!(await answers())) {
  try {
    execFileSync('rabbitmq-plugins', ['enable', '--quiet', 'rabbitmq_management'], { stdio: 'ignore' });
  } catch {
    process.stderr.write(`pretest: the RabbitMQ management API does not answer at ${url.host} and rabbitmq-plugins is not here to enable it; the status test will fail\n`);
    process.exit(0);
  }
  for (let i = 0; i < 60 && !(await answers()); i++) await new Promise((resolve) => setTimeout(resolve, 1000));
  if (!(await answers())) process.stderr.write(`pretest: enabled rabbitmq_management, but ${api} still does not answer\n`);
}
