import { takeViolations } from './openapi-documents';

/**
 * An answer that its service's OpenAPI document does not describe throws from the client's
 * request. A test that catches what its requests throw (a retry loop, eventually()) still fails
 * here, after it, naming every such answer.
 */
afterEach(() => {
  const missed = takeViolations();
  if (missed.length > 0) throw new Error(`${missed.length} answer(s) off their OpenAPI document during this test:\n${missed.join('\n')}`);
});
