import { binaryToUuid, isUuid, newId, uuidToBinary } from './uuid';

describe('uuid', () => {
  it('when an id goes to BINARY(16) and back, then it is the same id', () => {
    const id = newId();
    const bytes = uuidToBinary(id);
    expect(bytes).toHaveLength(16);
    expect(binaryToUuid(bytes)).toBe(id);
  });

  it('when ids are made one after another, then they sort in time order as bytes', () => {
    const a = uuidToBinary(newId());
    const b = uuidToBinary(newId());
    expect(Buffer.compare(a, b)).toBeLessThan(0);
  });

  it('when a string is not a UUID, then it is refused rather than stored as garbage', () => {
    expect(isUuid('not-a-uuid')).toBe(false);
    expect(() => uuidToBinary("1' OR '1'='1")).toThrow(TypeError);
  });
});
