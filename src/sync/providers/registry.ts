import type { SyncProvider } from '../sync-provider.js';
import { oneCODataProvider } from './one-c-odata.js';
import { bitrix24CompaniesProvider } from './bitrix24-companies.js';
import { diadocEvents } from './diadoc-events.js';
import { cbrRatesProvider } from './cbr-rates.js';

/**
 * Every provider, as a plain object: adding one is one file in this folder and one line in this list.
 * The config names a provider by its `name`; an unknown name is exit 78 listing these.
 */
export const providers: ReadonlyArray<SyncProvider<any>> = [
  oneCODataProvider,
  bitrix24CompaniesProvider,
  diadocEvents,
  cbrRatesProvider,
];

export function providerNamed(name: string): SyncProvider<any> | undefined {
  return providers.find((provider) => provider.name === name);
}
