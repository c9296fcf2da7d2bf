import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig, resolveRecordStoreUrl, type LoadedConfig } from '../../src/config/load-config.js';
import { maskSecrets } from '../../src/config/secrets.js';
import { ExchangeError } from '../../src/errors.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

/** An empty working folder holding the given files. */
function folder(files: Record<string, string> = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exchange-config-'));
  dirs.push(dir);
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), content);
  }
  return dir;
}

async function failure(load: Promise<unknown>): Promise<ExchangeError & { loadable?: LoadedConfig }> {
  const error = await load.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(ExchangeError);
  return error as ExchangeError & { loadable?: LoadedConfig };
}

describe('loadConfig: where the file is found (DESIGN §4)', () => {
  it.each([
    ['.exchangerc', '{"tenant": "rc"}', 'rc'],
    ['.exchangerc.json', '{"tenant": "json"}', 'json'],
    ['.exchangerc.yaml', 'tenant: yaml\n', 'yaml'],
    ['.exchangerc.yml', 'tenant: yml\n', 'yml'],
    ['package.json', '{"name": "x", "exchange": {"tenant": "pkg"}}', 'pkg'],
    ['exchange.config.js', 'module.exports = { tenant: "js" };', 'js'],
    ['exchange.config.mjs', 'export default { tenant: "mjs" };', 'mjs'],
    ['exchange.config.cjs', 'module.exports = { tenant: "cjs" };', 'cjs'],
  ])('reads %s in the working folder', async (name, content, tenant) => {
    const dir = folder({ [name]: content });
    const loaded = await loadConfig({ cwd: dir, env: {} });
    expect(loaded.config.tenant).toBe(tenant);
    expect(loaded.filepath).toBe(path.join(dir, name));
    expect(loaded.baseDir).toBe(dir);
  });

  it('looks in the working folder only, not in the folders above it', async () => {
    const dir = folder({ '.exchangerc.json': '{"tenant": "parent"}', 'child/.keep': '' });
    const loaded = await loadConfig({ cwd: path.join(dir, 'child'), env: {} });
    expect(loaded.filepath).toBeUndefined();
    expect(loaded.config.tenant).toBeUndefined();
    expect(loaded.baseDir).toBe(path.join(dir, 'child'));
  });

  it('reads none of the other names a config library would look for', async () => {
    const dir = folder({ '.exchangerc.js': 'module.exports = { tenant: "js" };', '.config/exchangerc': '{"tenant": "config"}', 'exchange.config.ts': 'export default { tenant: "ts" };' });
    const loaded = await loadConfig({ cwd: dir, env: {} });
    expect(loaded.filepath).toBeUndefined();
    expect(loaded.config.tenant).toBeUndefined();
  });

    it('takes --config over EXCHANGE_CONFIG, and resolves either against the working folder', async () => {
    const dir = folder({ 'a.json': '{"tenant": "a"}', 'conf/b.json': '{"tenant": "b"}', '.exchangerc.json': '{"tenant": "found"}' });
    const flag = await loadConfig({ cwd: dir, configPath: 'a.json', env: { EXCHANGE_CONFIG: 'conf/b.json' } });
    expect([flag.config.tenant, flag.filepath, flag.baseDir]).toEqual(['a', path.join(dir, 'a.json'), dir]);
    const variable = await loadConfig({ cwd: dir, env: { EXCHANGE_CONFIG: 'conf/b.json' } });
    expect([variable.config.tenant, variable.filepath, variable.baseDir]).toEqual(['b', path.join(dir, 'conf/b.json'), path.join(dir, 'conf')]);
  });

  it('says a named file is missing, with the flag and the variable to check (exit 78)', async () => {
    const dir = folder();
    const error = await failure(loadConfig({ cwd: dir, configPath: 'nope.json', env: {} }));
    expect(error.code).toBe('CONFIG');
    expect(error.exitCode).toBe(78);
    expect(error.message).toBe('config file not found: nope.json');
    expect(error.hint).toBe('check --config or EXCHANGE_CONFIG');
    expect(error.details).toEqual(['config: file nope.json does not exist']);
    expect(error.cause).toBeInstanceOf(Error);
  });

  it('says a file it cannot parse needs its syntax fixed, with the parser\'s first line', async () => {
    const dir = folder({ '.exchangerc.json': '{"tenant": ' });
    const error = await failure(loadConfig({ cwd: dir, env: {} }));
    expect(error.code).toBe('CONFIG');
    expect(error.message.startsWith('cannot read the config file: ')).toBe(true);
    expect(error.hint).toBe('fix the syntax of the file');
    expect(error.details).toHaveLength(1);
    expect(error.details[0].startsWith('config: ')).toBe(true);
    // The parser's message runs over several lines; the detail line is its first one, whole.
    const parserMessage = error.message.slice('cannot read the config file: '.length);
    expect(parserMessage).toContain('\n');
    expect(error.details[0]).toBe(`config: ${parserMessage.slice(0, parserMessage.indexOf('\n'))}`);
    expect(error.details[0].length).toBeGreaterThan('config: '.length + 10);
  });

  it('refuses a file that holds a list or a text instead of an object; an empty file is no settings', async () => {
    for (const content of ['[1, 2]', '"tenant"']) {
      const error = await failure(loadConfig({ cwd: folder({ '.exchangerc.json': content }), env: {} }));
      expect(error.code).toBe('CONFIG');
      expect(error.message).toBe('the config file must hold an object');
      expect(error.details).toEqual(['(root): expected an object']);
    }
    const empty = await loadConfig({ cwd: folder({ '.exchangerc.yaml': '' }), env: {} });
    expect(empty.config.amqp.url).toBe('amqp://guest:guest@127.0.0.1:5672');
  });
});

describe('loadConfig: the environment over the file', () => {
  it('sets each of its five keys, creating the section the file does not have', async () => {
    const dir = folder({ '.exchangerc.json': JSON.stringify({ amqp: { prefetch: 7 }, crm: null, elasticsearch: 'x' }) });
    const loaded = await loadConfig({
      cwd: dir,
      env: {
        EXCHANGE_AMQP_URL: 'amqp://env-host:5672',
        EXCHANGE_RECORD_STORE: 'postgres://app@db:5432/x',
        EXCHANGE_BITRIX24_WEBHOOK: 'https://portal.bitrix24.ru/rest/1/abcdef/',
        EXCHANGE_ELASTICSEARCH_URL: 'http://search:9200',
        EXCHANGE_TENANT: 'envtenant',
      },
    });
    expect(loaded.config.amqp.url).toBe('amqp://env-host:5672');
    expect(loaded.config.amqp.prefetch).toBe(7);
    expect(loaded.config.recordStore.url).toBe('postgres://app@db:5432/x');
    expect(loaded.config.crm.webhookUrl).toBe('https://portal.bitrix24.ru/rest/1/abcdef/');
    expect(loaded.config.elasticsearch.node).toBe('http://search:9200');
    expect(loaded.config.tenant).toBe('envtenant');
  });

  it('EXCHANGE_AMQP_URL replaces the file\'s node list, also where the file has no amqp section to speak of', async () => {
    const listed = await loadConfig({ cwd: folder({ '.exchangerc.json': JSON.stringify({ amqp: { urls: ['amqp://a:5672', 'amqp://b:5672'] } }) }), env: { EXCHANGE_AMQP_URL: 'amqp://env:5672' } });
    expect(listed.config.amqp.url).toBe('amqp://env:5672');
    expect(listed.config.amqp.urls).toBeUndefined();
    const nullSection = await loadConfig({ cwd: folder({ '.exchangerc.json': JSON.stringify({ amqp: null }) }), env: { EXCHANGE_AMQP_URL: 'amqp://env:5672' } });
    expect(nullSection.config.amqp.url).toBe('amqp://env:5672');
  });

    it('ignores an empty variable, and leaves the file it read untouched', async () => {
    const dir = folder({ '.exchangerc.json': JSON.stringify({ tenant: 'file' }) });
    const loaded = await loadConfig({ cwd: dir, env: { EXCHANGE_TENANT: '' } });
    expect(loaded.config.tenant).toBe('file');
  });

  it('names the variable a bad value came from, the file for the rest, nothing without a file', async () => {
    const dir = folder({ '.exchangerc.json': JSON.stringify({ amqp: { prefetch: 0 } }) });
    const file = path.join(dir, '.exchangerc.json');
    const error = await failure(loadConfig({ cwd: dir, env: { EXCHANGE_RECORD_STORE: 'mysql://x' } }));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toBe('invalid configuration (2 problems)');
    expect(error.hint).toBe('fix the keys named above; `exchange config` prints what is in force');
    expect([...error.details].sort()).toEqual([
      expect.stringMatching(new RegExp(`^amqp\\.prefetch: .+ in ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`)),
      'recordStore.url: must be sqlite:<path> or postgres://… (from EXCHANGE_RECORD_STORE)',
    ]);
    const single = await failure(loadConfig({ cwd: folder(), env: { EXCHANGE_TENANT: 'bad tenant!' } }));
    expect(single.message).toBe('invalid configuration (1 problem)');
  });

  it('registers the secrets it loaded, so that they are masked everywhere after', async () => {
    const dir = folder({
      '.exchangerc.json': JSON.stringify({
        amqp: { url: 'amqp://app:amqpPa55@broker:5672', managementUrl: 'http://admin:mgmtPa55@broker:15672' },
        recordStore: { url: 'postgres://app:pgPa55@db:5432/x' },
        crm: { webhookUrl: 'https://portal.bitrix24.ru/rest/1/hookC0de77/' },
        elasticsearch: { node: 'http://elastic:esPa55@search:9200', apiKey: 'esApiKey99' },
      }),
    });
    await loadConfig({ cwd: dir, env: {} });
    expect(maskSecrets('amqpPa55 mgmtPa55 pgPa55 hookC0de77 esPa55 esApiKey99')).toBe('*** *** *** *** *** ***');
  });

  it('registers the secrets of what could be loaded, even when another key is wrong', async () => {
    const dir = folder({ '.exchangerc.json': JSON.stringify({ amqp: { url: 'amqp://app:partialPa55@broker:5672' }, drain: { batchSize: 0 } }) });
    const error = await failure(loadConfig({ cwd: dir, env: {} }));
    expect(error.loadable?.config.amqp.url).toBe('amqp://app:partialPa55@broker:5672');
    expect(error.loadable?.config.drain.batchSize).toBe(200);
    expect(error.loadable?.filepath).toBe(path.join(dir, '.exchangerc.json'));
    expect(error.loadable?.baseDir).toBe(dir);
    expect(maskSecrets('partialPa55')).toBe('***');
  });
});

describe('parseConfig: what survives a bad key', () => {
  const loadable = (input: Record<string, unknown>) => {
    try {
      parseConfig(input);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as ConfigError).loadable;
    }
    throw new Error('parsed without error');
  };

  it('is not filled in by parseConfig itself (loadConfig adds it)', () => {
    expect(loadable({ tenant: 'bad tenant!' })).toBeUndefined();
  });

  it('names a missing required key by its path, and an unknown section with its closest name', () => {
    const details = (input: unknown) => {
      try {
        parseConfig(input);
      } catch (error) {
        return (error as ConfigError).details;
      }
      return [];
    };
    expect(details({ syncs: { cbr: { schedule: '1h' } } })).toEqual([expect.stringMatching(/^syncs\.cbr\.provider: /)]);
    expect(details({ routs: {} })).toEqual(['routs: unknown key (did you mean "routes"?)']);
    expect(details({ amqp: { prefech: 1 } })).toEqual(['amqp.prefech: unknown key (did you mean "prefetch"?)']);
    expect(details({ routes: { user: ['records'], prodcut: ['records'] } })).toEqual(['routes.prodcut: unknown key (did you mean "product"?)']);
    expect(details({ syncs: { cbr: { provider: 'cbr-rates', schedule: '1h', setings: {} } } })).toEqual(['syncs.cbr.setings: unknown key (did you mean "settings"?)']);
    expect(details({ syncs: { cbr: { provider: 'cbr-rates', schedule: '1h', settings: { daysBak: 3 } } } })).toEqual(['syncs.cbr.settings.daysBak: unknown key (did you mean "daysBack"?)']);
    expect(details({ syncs: { cbr: { provider: 'cbr-rates', schedule: '1h', settings: { colour: 'red' } } } })).toEqual(['syncs.cbr.settings.colour: unknown key']);
    // Through a default ({} filled in) and a record of strict objects, to the keys of the object below.
    expect(details({ crm: { fields: { compnay: {} } } })).toEqual(['crm.fields.compnay: unknown key (did you mean "company"?)']);
    // A record's own keys are free: nothing to suggest inside crm.fields.company.
    expect(details({ crm: { fields: { company: { TITLE: 5 } } } })).toEqual([expect.stringMatching(/^crm\.fields\.company\.TITLE: /)]);
    expect(details('text')).toEqual([expect.stringMatching(/^\(root\): /)]);
  });
});

describe('loadConfig: the loadable part of a bad configuration', () => {
  const loadableOf = async (config: unknown, env: NodeJS.ProcessEnv = {}) => {
    const error = await failure(loadConfig({ cwd: folder({ '.exchangerc.json': JSON.stringify(config) }), env }));
    return error.loadable?.config;
  };

  it('leaves out unknown keys and bad values, and keeps the rest', async () => {
    const config = await loadableOf({ tenant: 'kept', amqp: { prefetch: 'many', colour: 'red', maxAttempts: 9 }, drain: { limit: 5 } });
    expect(config?.tenant).toBe('kept');
    expect(config?.amqp.prefetch).toBe(500);
    expect(config?.amqp.maxAttempts).toBe(9);
    expect(config?.amqp).not.toHaveProperty('colour');
    expect(config?.drain.limit).toBe(5);
  });

  it('drops the object that lacks a required key, and a sync its provider refuses', async () => {
    const config = await loadableOf({ tenant: 'kept', syncs: { a: { schedule: '1h' }, b: { provider: 'cbr-rates', schedule: '1h' }, c: { provider: 'cbr-rates', schedule: '1h', settings: { daysBack: 0 } } } });
    expect(config?.tenant).toBe('kept');
    expect(Object.keys(config?.syncs ?? {})).toEqual(['b']);
  });
});

describe('resolveRecordStoreUrl', () => {
  const loaded = (url: string, baseDir = '/srv/exchange') => ({ config: { recordStore: { url } }, baseDir }) as unknown as LoadedConfig;

  it('resolves a relative SQLite path against the config file folder, and leaves the rest alone', () => {
    expect(resolveRecordStoreUrl(loaded('sqlite:data/x.db'))).toBe('sqlite:/srv/exchange/data/x.db');
    expect(resolveRecordStoreUrl(loaded('sqlite:/var/lib/x.db'))).toBe('sqlite:/var/lib/x.db');
    expect(resolveRecordStoreUrl(loaded('sqlite::memory:'))).toBe('sqlite::memory:');
    expect(resolveRecordStoreUrl(loaded('postgres://app@db:5432/x'))).toBe('postgres://app@db:5432/x');
  });
});
