// The gateway, as the dashboard sees it: queries over HTTP, subscriptions over graphql-ws
// (its own browser client, served by the gateway), one API key for both. The socket
// reconnects with capped exponential backoff and every subscription resumes on its own.
import { createClient } from '/dashboard/vendor/graphql-ws/client.js';

/** The gateway refused the key (HTTP 401 / WebSocket close 4403). */
export class Unauthorized extends Error {}

const FORBIDDEN = 4403;
const MAX_BACKOFF_MS = 10_000;

function graphqlUrl() {
  return new URL('/graphql', window.location.href);
}

function backoffMs(retries) {
  const base = Math.min(MAX_BACKOFF_MS, 500 * 2 ** retries);
  return base / 2 + Math.random() * (base / 2);
}

/**
 * @param {string | undefined} key
 * @param {(state: { state: string, detail?: string }) => void} onState
 */
export function createApi(key, onState) {
  const headers = { 'content-type': 'application/json', ...(key ? { 'x-api-key': key } : {}) };
  let unauthorized = () => undefined;
  let reconnected = () => undefined;

  async function query(document, variables = {}) {
    const response = await fetch(graphqlUrl(), {
      method: 'POST',
      headers,
      body: JSON.stringify({ query: document, variables }),
    });
    if (response.status === 401) throw new Unauthorized('the gateway needs a valid API key');
    const body = await response.json();
    if (!body.data) throw new Error(body.errors?.[0]?.message ?? `HTTP ${response.status}`);
    // Partial data is still shown; the errors name what is missing.
    for (const error of body.errors ?? []) console.warn('GraphQL:', error.message);
    return body.data;
  }

  const url = graphqlUrl();
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  // The page keeps subscriptions open all the time, so any close is a drop.
  let dropped = false;
  /** While graphql-ws waits to retry, the badge says so (its `closed` event comes after). */
  let nextAttempt = 0;
  const client = createClient({
    url: url.href,
    connectionParams: key ? { 'x-api-key': key } : {},
    lazy: true,
    keepAlive: 15_000,
    retryAttempts: Infinity,
    shouldRetry: (event) => event?.code !== FORBIDDEN,
    retryWait: async (retries) => {
      const wait = backoffMs(retries);
      nextAttempt = Date.now() + wait;
      onState({ state: 'reconnecting', detail: `in ${Math.ceil(wait / 1000)} s (attempt ${retries + 1})` });
      await new Promise((resolve) => setTimeout(resolve, wait));
    },
  });
  client.on('connecting', (retrying) => onState({ state: retrying ? 'reconnecting' : 'connecting' }));
  client.on('connected', () => {
    onState({ state: 'live' });
    if (dropped) reconnected();
    dropped = false;
  });
  client.on('closed', (event) => {
    dropped = true;
    if (event?.code === FORBIDDEN) unauthorized();
    else if (Date.now() >= nextAttempt) onState({ state: 'disconnected', detail: event?.reason || undefined });
  });

  /**
   * Runs a subscription until disposed. One that ends anyway, with an error (the gateway
   * closing a slow consumer) or completed (the gateway shutting down), starts again after a
   * backoff; graphql-ws then reconnects with its own backoff until the gateway is back.
   */
  function subscribe(document, variables, onNext) {
    let dispose = () => undefined;
    let stopped = false;
    let failures = 0;
    const restart = () => {
      if (!stopped) setTimeout(() => !stopped && start(), backoffMs(failures++));
    };
    const start = () => {
      dispose = client.subscribe(
        { query: document, variables },
        {
          next: (result) => {
            failures = 0;
            if (result.data) onNext(result.data);
            for (const error of result.errors ?? []) console.warn('subscription:', error.message);
          },
          error: (error) => {
            if (error?.code === FORBIDDEN) return unauthorized();
            console.warn('subscription failed, restarting:', error?.message ?? error?.reason ?? error);
            restart();
          },
          complete: restart,
        },
      );
    };
    start();
    return () => {
      stopped = true;
      dispose();
    };
  }

  return {
    query,
    subscribe,
    /** Called once when the socket is refused for the key. */
    onUnauthorized(callback) {
      unauthorized = callback;
    },
    /** Called after the socket came back: events sent while it was down are lost, reload. */
    onReconnected(callback) {
      reconnected = callback;
    },
    dispose: () => client.dispose(),
  };
}
