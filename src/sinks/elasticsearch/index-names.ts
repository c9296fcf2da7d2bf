import type { ExchangeConfig } from '../../config/schema.js';

export interface ProductIndexNames {
  /** What the sink writes through and searches read: `<tenant.>products`. */
  alias: string;
  /** The concrete index of one mapping version: `<tenant.>products-v<n>`. */
  version(n: number): string;
  /** The version number of a concrete index of ours, or undefined for any other name. */
  versionOf(index: string): number | undefined;
}

export function productIndexNames(config: ExchangeConfig): ProductIndexNames {
  // Index names must be lower case; tenants may not be.
  const alias = `${config.tenant ? `${config.tenant.toLowerCase()}.` : ''}${config.elasticsearch.index}`;
  const prefix = `${alias}-v`;
  return {
    alias,
    version: (n) => `${prefix}${n}`,
    versionOf: (index) => {
      if (!index.startsWith(prefix)) return undefined;
      const rest = index.slice(prefix.length);
      return /^[1-9]\d*$/.test(rest) ? Number(rest) : undefined;
    },
  };
}
