/** Every name a generated module derives from its kebab-case plural (`purchase-orders`). */
export interface ModuleNames {
  /** `purchase-orders`: folder, route, spec file. */
  kebab: string;
  /** `purchase-order`: entity and DTO files. */
  kebabOne: string;
  /** `PurchaseOrders`: module, controller, service, migration. */
  Pascal: string;
  /** `PurchaseOrder`: the entity class. */
  PascalOne: string;
  /** `purchaseOrders` / `purchaseOrder`: variables. */
  camel: string;
  camelOne: string;
  /** `purchase_orders`: the table. */
  table: string;
  /** `PURCHASE_ORDER`: the audit trail's entity type. */
  entityType: string;
  /** `Purchase order`: messages ("Purchase order <id> not found"). */
  human: string;
  /** `purchase order`: sentences in the middle. */
  humanLower: string;
}

export const MODULE_NAME = /^[a-z][a-z0-9]*(-[a-z][a-z0-9]*)*$/;

/** English plural → singular for the common cases; pass `singular` for the others. */
export function singularOf(word: string): string {
  if (/[^aeiou]ies$/.test(word)) return word.slice(0, -3) + 'y';
  if (/(ss|sh|ch|x|z)es$/.test(word)) return word.slice(0, -2);
  if (/[^s]s$/.test(word)) return word.slice(0, -1);
  return word;
}

export function moduleNames(plural: string, singular?: string): ModuleNames {
  if (!MODULE_NAME.test(plural)) {
    throw new Error(
      `module name must be kebab-case and plural, like invoices or purchase-orders: ${plural}`,
    );
  }
  const words = plural.split('-');
  const kebabOne =
    singular ?? [...words.slice(0, -1), singularOf(words[words.length - 1])].join('-');
  if (!MODULE_NAME.test(kebabOne)) throw new Error(`singular must be kebab-case: ${kebabOne}`);
  if (kebabOne === plural) {
    throw new Error(`"${plural}" reads as singular: give the plural, or --singular <name>`);
  }
  const pascal = (kebab: string): string =>
    kebab
      .split('-')
      .map((w) => w[0].toUpperCase() + w.slice(1))
      .join('');
  const camel = (kebab: string): string => pascal(kebab)[0].toLowerCase() + pascal(kebab).slice(1);
  const humanLower = kebabOne.replace(/-/g, ' ');
  return {
    kebab: plural,
    kebabOne,
    Pascal: pascal(plural),
    PascalOne: pascal(kebabOne),
    camel: camel(plural),
    camelOne: camel(kebabOne),
    table: plural.replace(/-/g, '_'),
    entityType: kebabOne.replace(/-/g, '_').toUpperCase(),
    human: humanLower[0].toUpperCase() + humanLower.slice(1),
    humanLower,
  };
}

/**
 * Registers `<Pascal>Module` in app.module.ts: its import after the last `@/modules/` import,
 * and the module after the last `…Module,` entry of the `imports: [...]` list.
 */
export function registerInAppModule(source: string, names: ModuleNames): string {
  const moduleClass = `${names.Pascal}Module`;
  if (new RegExp(`\\b${moduleClass}\\b`).test(source)) {
    throw new Error(`app.module.ts already mentions ${moduleClass}`);
  }
  const lines = source.split('\n');
  // After the last import from a module (its last line, if it spans several), else the last import.
  const lastModuleImport = lines.findLastIndex((l) => /from '@\/modules\/[^']+';$/.test(l));
  const lastImport =
    lastModuleImport >= 0
      ? lastModuleImport
      : lines.findLastIndex((l) => /^import .* from '[^']+';$|^} from '[^']+';$/.test(l));
  const listStart = lines.findIndex((l) => /^\s*imports: \[\s*$/.test(l));
  const listEnd =
    listStart < 0 ? -1 : lines.findIndex((l, i) => i > listStart && /^\s*\],/.test(l));
  let lastEntry = -1;
  for (let i = listStart + 1; listEnd > 0 && i < listEnd; i++) {
    if (/^\s+[A-Z]\w*Module,\s*$/.test(lines[i])) lastEntry = i;
  }
  if (lastImport < 0 || lastEntry < 0) {
    throw new Error(
      `could not find where to register ${moduleClass} in app.module.ts: ` +
        `import it from '@/modules/${names.kebab}' and add it to AppModule's imports by hand`,
    );
  }
  const indent = /^\s*/.exec(lines[lastEntry])![0];
  lines.splice(lastEntry + 1, 0, `${indent}${moduleClass},`);
  lines.splice(lastImport + 1, 0, `import { ${moduleClass} } from '@/modules/${names.kebab}';`);
  return lines.join('\n');
}
