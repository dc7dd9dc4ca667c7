import { moduleNames, registerInAppModule, singularOf } from './module-names';

describe(moduleNames.name, () => {
  it('derives every name from the kebab-case plural', () => {
    expect(moduleNames('purchase-orders')).toEqual({
      kebab: 'purchase-orders',
      kebabOne: 'purchase-order',
      Pascal: 'PurchaseOrders',
      PascalOne: 'PurchaseOrder',
      camel: 'purchaseOrders',
      camelOne: 'purchaseOrder',
      table: 'purchase_orders',
      entityType: 'PURCHASE_ORDER',
      human: 'Purchase order',
      humanLower: 'purchase order',
    });
  });

  it('singularizes the common English plurals, and takes an explicit singular', () => {
    expect(['invoices', 'policies', 'boxes', 'addresses', 'keys'].map(singularOf)).toEqual([
      'invoice',
      'policy',
      'box',
      'address',
      'key',
    ]);
    expect(moduleNames('people', 'person')).toMatchObject({
      PascalOne: 'Person',
      entityType: 'PERSON',
    });
  });

  it('refuses names that are not kebab-case plurals', () => {
    expect(() => moduleNames('Invoices')).toThrow(/kebab-case/);
    expect(() => moduleNames('invoice_items')).toThrow(/kebab-case/);
    expect(() => moduleNames('staff')).toThrow(/reads as singular/);
  });
});

describe(registerInAppModule.name, () => {
  const source = [
    `import { Module } from '@nestjs/common';`,
    `import { HealthModule } from '@/modules/health/health.module';`,
    `import { WorkflowsModule } from '@/modules/workflows/workflows.module';`,
    ``,
    `@Module({})`,
    `export class AppModule {`,
    `  static forRoot() {`,
    `    return {`,
    `      imports: [`,
    `        ConfigModule.forRoot({ isGlobal: true }),`,
    `        HealthModule,`,
    `        WorkflowsModule,`,
    `      ],`,
    `      providers: [],`,
    `    };`,
    `  }`,
    `}`,
  ].join('\n');

  it('adds the import and the module to the imports list', () => {
    const out = registerInAppModule(source, moduleNames('invoices')).split('\n');
    expect(out[3]).toBe(`import { InvoicesModule } from '@/modules/invoices';`);
    expect(out.slice(12, 15)).toEqual([
      '        WorkflowsModule,',
      '        InvoicesModule,',
      '      ],',
    ]);
  });

  it('places the import after a module import that spans several lines', () => {
    const multiLine = source.replace(
      `import { WorkflowsModule } from '@/modules/workflows/workflows.module';`,
      `import {\n  WorkflowsModule,\n  WorkflowsService,\n} from '@/modules/workflows';`,
    );
    const out = registerInAppModule(multiLine, moduleNames('invoices')).split('\n');
    expect(out.slice(5, 7)).toEqual([
      `} from '@/modules/workflows';`,
      `import { InvoicesModule } from '@/modules/invoices';`,
    ]);
  });

  it('refuses to register a module twice, or to guess', () => {
    const once = registerInAppModule(source, moduleNames('invoices'));
    expect(() => registerInAppModule(once, moduleNames('invoices'))).toThrow(/already/);
    expect(() => registerInAppModule('export class AppModule {}', moduleNames('invoices'))).toThrow(
      /by hand/,
    );
  });
});
