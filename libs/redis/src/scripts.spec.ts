import { logThrottle } from './scripts';

describe('logThrottle', () => {
  afterEach(() => jest.useRealTimers());

  it('when called again within the interval, then it stays quiet and counts; after it, it logs with the count', () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const throttle = logThrottle(10_000);
    expect(throttle()).toEqual({ log: true, suppressed: 0 });
    jest.advanceTimersByTime(5_000);
    expect(throttle()).toEqual({ log: false, suppressed: 1 });
    expect(throttle()).toEqual({ log: false, suppressed: 2 });
    jest.advanceTimersByTime(5_000);
    expect(throttle()).toEqual({ log: true, suppressed: 2 });
    expect(throttle()).toEqual({ log: false, suppressed: 1 });
  });
});
