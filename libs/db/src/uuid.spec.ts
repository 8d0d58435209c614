import { binaryToUuid, isUuid, newId, uuidTime, uuidToBinary } from './uuid';

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

  it('when an id is made, then uuidTime reads back the millisecond it was made in', () => {
    const before = Date.now();
    const time = uuidTime(newId());
    expect(time).toBeGreaterThanOrEqual(before);
    expect(time).toBeLessThanOrEqual(Date.now());
    expect(uuidTime('0190a1b2-c3d4-7000-8000-000000000000')).toBe(0x0190a1b2c3d4);
  });

  it('when an id is not a UUIDv7, then uuidTime refuses it', () => {
    expect(() => uuidTime('0190a1b2-c3d4-4000-8000-000000000000')).toThrow(TypeError);
    expect(() => uuidTime('nope')).toThrow(TypeError);
  });
});
