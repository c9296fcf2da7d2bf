export const entityTypes = ['user', 'product', 'mutualsettlements', 'rate', 'edi-event'] as const;
export type EntityType = (typeof entityTypes)[number];

/**
 * The types 1C files carry (import, demo fixtures, the CRM sink). `rate` and `edi-event` come from
 * synchronizations (DESIGN §10) and only feed the records sink.
 */
export const businessTypes = ['user', 'product', 'mutualsettlements'] as const satisfies readonly EntityType[];
export type BusinessType = (typeof businessTypes)[number];

export function isEntityType(value: string): value is EntityType {
  return (entityTypes as readonly string[]).includes(value);
}

export function isBusinessType(value: string): value is BusinessType {
  return (businessTypes as readonly string[]).includes(value);
}
