import { Client, type Answer } from './client';
import type { Topology } from './platform';

/** An RFC 9457 answer of the contract: status, code, problem+json, and the request id of its header. */
export function expectProblem(res: Answer, status: number, code: string): void {
  expect([res.status, res.body?.code]).toEqual([status, code]);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ type: expect.any(String), title: expect.any(String), status, detail: expect.any(String), requestId: res.headers.get('x-request-id') });
}

/** A new account on a client of its own (one address each, so logins are never throttled). */
export async function signedUp(topology: Topology, name?: string) {
  const client = new Client(topology);
  const user = await client.signUp(name);
  return { client, user, token: user.accessToken };
}
export type Caller = Awaited<ReturnType<typeof signedUp>>;
