import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { apolloPlugins } from './server.ts';

/** Apollo Server marks its built-in plugins with an id and whether they are the "disabled" variant. */
const builtIns = (plugins: object[]) =>
  plugins.flatMap((p) => {
    const internal = p as { __internal_plugin_id__?: string; __is_disabled_plugin__?: boolean };
    if (!internal.__internal_plugin_id__) return [];
    return [`${internal.__internal_plugin_id__}${internal.__is_disabled_plugin__ ? ':disabled' : ''}`];
  });

describe('Apollo Server plugins', () => {
  it('disables usage reporting explicitly unless Apollo Studio is configured', () => {
    // (the Sandbox landing page plugin carries no id; the e2e test fetches the page)
    assert.deepEqual(builtIns(apolloPlugins({ landingPage: true })), [
      'UsageReporting:disabled',
      'SchemaReporting:disabled',
    ]);
  });

  it('reports usage when APOLLO_KEY and APOLLO_GRAPH_REF are configured', () => {
    const plugins = builtIns(apolloPlugins({ landingPage: false, apollo: { key: 'service:x:y', graphRef: 'g@v' } }));
    assert.deepEqual(plugins, ['LandingPageDisabled:disabled', 'UsageReporting', 'SchemaReporting:disabled']);
  });
});
