import { takeViolations } from './openapi-documents';

/**
 * An answer that its service's OpenAPI document does not describe throws from the client's
 * request. A test that catches what its requests throw (a retry loop, eventually()) still fails
 * here, after it, naming each such answer (the thrown error, when it reached jest, says what).
 */
afterEach(() => {
  const missed = takeViolations().map((message) => `  ${message.split('\n')[0]}`);
  if (missed.length > 0) throw new Error(`${missed.length} answer(s) off their OpenAPI document during this test:\n${missed.join('\n')}`);
});
