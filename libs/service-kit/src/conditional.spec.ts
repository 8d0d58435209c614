import type { FastifyRequest } from 'fastify';
import { entityTag, expectedVersions, notModified } from './conditional';

const ID = '01939f7e-5a4b-7c3d-8e2f-1a2b3c4d5e6f';
const request = (headers: Record<string, string>) => ({ headers }) as unknown as FastifyRequest;

describe('entity tags', () => {
  it('when a tag is made, then it is strong, quoted, and names the id and the version', () => {
    expect(entityTag(ID, 3)).toBe(`"${ID}.3"`);
  });
});

describe('If-None-Match (weak comparison)', () => {
  it.each([
    ['the tag', `"${ID}.3"`, true],
    ['a list holding it', `"a", "${ID}.3" , "b"`, true],
    ['its weak form', `W/"${ID}.3"`, true],
    ['*', '*', true],
    ['an older version', `"${ID}.2"`, false],
    ['another id', '"other.3"', false],
    ['an unquoted tag', `${ID}.3`, false],
  ])('when it is %s, then notModified is %s', (_name, header, expected) => {
    expect(notModified(request({ 'if-none-match': header }), entityTag(ID, 3))).toBe(expected);
  });

  it('when it is absent, then modified', () => {
    expect(notModified(request({}), entityTag(ID, 3))).toBe(false);
  });
});

describe('If-Match (strong comparison)', () => {
  it.each([
    ['absent', undefined, undefined],
    ['*', '*', undefined],
    ['one tag', `"${ID}.3"`, [3]],
    ['a list', `"${ID}.3", "other.4", "${ID}.5"`, [3, 5]],
    ['weak', `W/"${ID}.3"`, []],
    ['another resource’s', '"0193a0b0-0000-7000-8000-000000000000.3"', []],
    ['not a version', `"${ID}.x", "${ID}.0", "${ID}.-1", "${ID}.99999999999"`, []],
    ['not a tag at all', 'garbage', []],
  ])('when it is %s, then the versions it accepts are %j', (_name, header, expected) => {
    expect(expectedVersions(request(header === undefined ? {} : { 'if-match': header }), ID)).toEqual(expected);
  });
});
