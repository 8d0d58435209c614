import { freePorts } from '@platform/testing';
import { findTestServers } from './test-servers';

/** findTestServers reads process.env; each test sets what it needs and puts the run's values back. */
const saved = { MYSQL_ADMIN_URL: process.env['MYSQL_ADMIN_URL'], REDIS_URL: process.env['REDIS_URL'] };
const mysqlAdminUrl = saved.MYSQL_ADMIN_URL as string;
const redisUrl = saved.REDIS_URL as string;

afterEach(() => Object.assign(process.env, saved));

describe('findTestServers', () => {
  it('when the named servers answer, then it uses them and starts no container', async () => {
    Object.assign(process.env, { MYSQL_ADMIN_URL: mysqlAdminUrl, REDIS_URL: redisUrl });
    await expect(findTestServers()).resolves.toEqual({ mysqlAdminUrl, redisUrl, containers: [] });
  });

  it('when a named server does not answer, then the run stops naming the variable and the three ways, never swapping in a container', async () => {
    const [port] = await freePorts(1);
    Object.assign(process.env, { MYSQL_ADMIN_URL: mysqlAdminUrl, REDIS_URL: `redis://127.0.0.1:${port}` });
    const failure = findTestServers();
    await expect(failure).rejects.toThrow(`Redis at redis://127.0.0.1:${port} (REDIS_URL): not answering`);
    await expect(failure).rejects.toThrow(/1\. run MySQL .*\n.*2\. name running servers in MYSQL_ADMIN_URL and REDIS_URL.*\n.*3\. unset them and run Docker/);
  });

  it('when MySQL refuses the credentials, then the run stops saying so, without the password', async () => {
    const wrong = new URL(mysqlAdminUrl);
    Object.assign(wrong, { username: 'nobody_here', password: 's3cret-pw' });
    Object.assign(process.env, { MYSQL_ADMIN_URL: wrong.toString(), REDIS_URL: redisUrl });
    const failure = findTestServers();
    await expect(failure).rejects.toThrow(/MySQL at mysql:\/\/nobody_here:\*\*\*@.* \(MYSQL_ADMIN_URL\): refused credentials/);
    await expect(failure).rejects.not.toThrow(/s3cret/);
  });
});
