import { charsetOf } from './json-body';

describe('charsetOf', () => {
  it.each([
    ['application/json', undefined],
    ['application/json; charset=utf-8', 'utf-8'],
    ['application/json;CHARSET=UTF-16', 'utf-16'],
    ['application/json; foo=bar; charset="ISO-8859-1"', 'iso-8859-1'],
    ['application/json; charset=', ''],
    ['application/json; charsetx=utf-16', undefined],
  ])('when the Content-Type is %s, then the charset is %s', (contentType, expected) => {
    expect(charsetOf(contentType)).toBe(expected);
  });
});
