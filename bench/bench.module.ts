import { Body, Controller, Injectable, Module, Post } from '@nestjs/common';
import { Transactional, TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { IsString, MaxLength } from 'class-validator';
import { Audited } from '@/modules/auditing';
import { Roles } from '@/modules/identity';

export const BENCH_TABLE_SQL = `
  CREATE TABLE IF NOT EXISTS bench_items (id bigserial PRIMARY KEY, name text NOT NULL)`;

export class CreateBenchItemDto {
  @IsString()
  @MaxLength(100)
  name: string;
}

@Injectable()
export class BenchItemsService {
  constructor(private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>) {}

  /** One INSERT, through the transaction host like every service. */
  async create(dto: CreateBenchItemDto): Promise<{ id: string; name: string }> {
    const rows: { id: string; name: string }[] = await this.txHost.tx.query(
      `INSERT INTO bench_items (name) VALUES ($1) RETURNING id, name`,
      [dto.name],
    );
    return rows[0];
  }
}

/** The same endpoint three times: audited, unaudited, and unaudited in a transaction. */
@Roles('editor')
@Controller('bench')
export class BenchController {
  constructor(private readonly items: BenchItemsService) {}

  @Post('audited')
  @Audited({ action: 'CREATE', entity: 'BENCH_ITEM' })
  audited(@Body() dto: CreateBenchItemDto) {
    return this.items.create(dto);
  }

  @Post('unaudited')
  unaudited(@Body() dto: CreateBenchItemDto) {
    return this.items.create(dto);
  }

  /** Unaudited, but in a transaction like the audited one: isolates the audit write. */
  @Post('transactional')
  @Transactional()
  transactional(@Body() dto: CreateBenchItemDto) {
    return this.items.create(dto);
  }
}

@Module({ controllers: [BenchController], providers: [BenchItemsService] })
export class BenchModule {}
