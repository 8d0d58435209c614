import { createConnection, type Connection } from 'mysql2/promise';
import { setupDatabases } from './setup';

const SERVICES = ['user_service', 'order_service', 'payment_service'] as const;

function serviceUrl(account: string, schema = account): string {
  const url = new URL(process.env['MYSQL_ADMIN_URL'] as string);
  url.username = account;
  url.password = account;
  url.pathname = `/${schema}`;
  return url.toString();
}

async function expectDenied(conn: Connection, sql: string): Promise<void> {
  await expect(conn.query(sql)).rejects.toMatchObject({ code: expect.stringMatching(/ACCESS_DENIED|DENIED_ERROR/) });
}

describe('db:setup', () => {
  beforeAll(async () => {
    await setupDatabases(process.env['MYSQL_ADMIN_URL'] as string);
  });

  it('when run again, then it succeeds and changes nothing', async () => {
    await expect(setupDatabases(process.env['MYSQL_ADMIN_URL'] as string)).resolves.toBeUndefined();
  });

  // What else the server holds is not the platform's business (a stock MariaDB shows every account
  // its `test` database); what matters is that no account sees or touches another service's schema.
  it.each(SERVICES)("when %s connects with its own account, then it sees its own schema and none of the other services'", async (account) => {
    const conn = await createConnection({ uri: serviceUrl(account) });
    try {
      const [rows] = await conn.query('SHOW DATABASES');
      const visible = (rows as { Database: string }[]).map((r) => r.Database);
      expect(visible).toContain(account);
      expect(visible.filter((d) => (SERVICES as readonly string[]).includes(d))).toEqual([account]);
      await conn.query('CREATE TABLE IF NOT EXISTS setup_probe (id INT PRIMARY KEY)');
      await conn.query('DROP TABLE setup_probe');
      for (const other of SERVICES.filter((s) => s !== account)) {
        await expectDenied(conn, `CREATE TABLE ${other}.intruder (id INT PRIMARY KEY)`);
        await expectDenied(conn, `SELECT * FROM ${other}.schema_migrations`);
      }
      await expectDenied(conn, 'SELECT user FROM mysql.user');
    } finally {
      await conn.end();
    }
  });

  it("when an account names another service's schema, then it cannot connect", async () => {
    await expect(createConnection({ uri: serviceUrl('order_service', 'user_service') })).rejects.toMatchObject({
      code: 'ER_DBACCESS_DENIED_ERROR',
    });
  });
});
