import type { Clock } from '@ksync/core';

/** The real clock for sessions; its timers never keep the process alive on their own. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) =>
    new Promise((resolve) => {
      setTimeout(resolve, ms).unref();
    }),
};
