import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../lib/config.ts';
import { TickcastError } from '../../lib/errors.ts';
import { createLogger } from '../../lib/logger.ts';
import { scorerFromConfig } from './from-config.ts';

const logger = createLogger('silent');

describe('scorerFromConfig', () => {
  it('uses the offline lexicon when no LLM is configured', () => {
    assert.equal(scorerFromConfig(loadConfig({}), logger).name, 'lexicon:v1');
  });

  it('uses the LLM with the lexicon behind it when both base URL and model are set', () => {
    const config = loadConfig({ LLM_BASE_URL: 'http://127.0.0.1:11434/v1', LLM_MODEL: 'llama3.1:8b' });
    assert.equal(scorerFromConfig(config, logger).name, 'llm:llama3.1:8b|lexicon:v1');
  });

  it('refuses half an LLM configuration and an unknown prompt version', () => {
    assert.throws(
      () => scorerFromConfig(loadConfig({ LLM_MODEL: 'gpt-4o-mini' }), logger),
      (e: unknown) => e instanceof TickcastError && e.code === 'CONFIG_INVALID',
    );
    assert.throws(
      () =>
        scorerFromConfig(
          loadConfig({ LLM_BASE_URL: 'http://x/v1', LLM_MODEL: 'm', LLM_PROMPT_VERSION: 'sentiment-v9' }),
          logger,
        ),
      (e: unknown) => e instanceof TickcastError && e.code === 'CONFIG_INVALID',
    );
  });
});
