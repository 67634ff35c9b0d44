import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deriveName, validateAgentUrl, validateSpec, type SpecInput } from './spec.ts';

const good: SpecInput = {
  name: 'web',
  local: '/home/me/web',
  remote: '/app',
  url: 'ws://127.0.0.1:7475',
  tokenFile: '/home/me/token',
  mode: 'two-way',
  ignore: ['node_modules'],
};

describe('validateSpec', () => {
  it('accepts a good spec', () => {
    assert.deepEqual(validateSpec(good), []);
  });

  it('collects every problem at once', () => {
    const problems = validateSpec({
      name: 'Bad_Name',
      local: 'relative',
      remote: 'app',
      url: 'http://x:1',
      tokenFile: '',
      mode: 'sideways',
      ignore: [' '],
    });
    assert.equal(problems.length, 7, problems.join('\n'));
    assert.match(problems.join('\n'), /unknown sync mode "sideways"; use one of: two-way/);
  });

  it('rejects remote paths with dot components', () => {
    assert.match(validateSpec({ ...good, remote: '/app/../etc' }).join(), /"\.\."/);
  });
});

describe('validateAgentUrl', () => {
  const cases: [string, RegExp | undefined][] = [
    ['ws://127.0.0.1:7475', undefined],
    ['wss://agent.example:443', undefined],
    ['ws://localhost:1/x', /no path/],
    ['http://127.0.0.1:1', /must start with ws:\/\//],
    ['not a url', /is not a URL/],
  ];
  for (const [url, expected] of cases) {
    it(url, () => {
      const problem = validateAgentUrl(url);
      if (expected === undefined) assert.equal(problem, undefined);
      else assert.match(problem ?? '', expected);
    });
  }
});

describe('deriveName', () => {
  it('kebab-cases the base name', () => {
    assert.equal(deriveName('/home/me/My Project_2/'), 'my-project-2');
    assert.equal(deriveName('/'), 'sync');
    assert.equal(deriveName('/x/---'), 'sync');
  });
});
