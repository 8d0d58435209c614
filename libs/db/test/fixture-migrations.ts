import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateWidgets1700000000001 implements MigrationInterface {
  name = 'CreateWidgets1700000000001';
  async up(q: QueryRunner): Promise<void> {
    await q.query('CREATE TABLE widgets (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, price BIGINT NOT NULL)');
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE widgets');
  }
}

export class AddWidgetName1700000000002 implements MigrationInterface {
  name = 'AddWidgetName1700000000002';
  async up(q: QueryRunner): Promise<void> {
    await q.query("ALTER TABLE widgets ADD COLUMN name VARCHAR(100) NOT NULL DEFAULT ''");
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE widgets DROP COLUMN name');
  }
}

export const fixtureMigrations = [CreateWidgets1700000000001, AddWidgetName1700000000002];
