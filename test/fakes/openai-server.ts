/**
 * A local OpenAI-compatible Chat Completions server for tests, run as its own process,
 * speaking the documented wire format:
 *  - POST /v1/chat/completions with `Authorization: Bearer <key>`, `model`, `messages` and
 *    `response_format: { type: 'json_schema', json_schema: { name, strict, schema } }`;
 *    answers `{ id, object: 'chat.completion', created, model, choices: [{ index, message:
 *    { role: 'assistant', content, refusal }, finish_reason }], usage: { prompt_tokens,
 *    completion_tokens, total_tokens } }`.
 *    https://platform.openai.com/docs/api-reference/chat/create
 *  - Errors: HTTP status with `{ error: { message, type, param, code } }` (401
 *    invalid_api_key, 429 rate_limit_exceeded, 500 server_error, 503 overloaded).
 *    https://platform.openai.com/docs/guides/error-codes
 *
 * Each request takes the next scripted behaviour, else the default `good`:
 *   good       a valid answer for every coin in the schema's enum (score from the title:
 *              "crash|hack|plunge" -0.7 bearish, "surge|rally|record" 0.7 bullish, else 0 neutral)
 *   malformed  prose instead of JSON          schema     JSON with score 5 and an unknown label
 *   partial    only the first coin            truncated  JSON cut mid-way, finish_reason "length"
 *   refusal    message.refusal set            slow       `good` after `delayMs`
 *   fail       HTTP `status` with an OpenAI error body (default 500); with `retryAfterSeconds`
 *              also a `retry-after` header, as providers send with 429 and 503
 * Control (for a test in another process): POST /control/script {"script":[{"kind":...}]},
 * POST /control/default {"kind":...}, GET /control/requests (bodies received, in order).
 * CLI: `tsx test/fakes/openai-server.ts --port 0 --key KEY` prints {"url"} on stdout.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export type Behaviour =
  | { kind: 'good' }
  | { kind: 'malformed' }
  | { kind: 'schema' }
  | { kind: 'partial' }
  | { kind: 'truncated' }
  | { kind: 'refusal' }
  | { kind: 'slow'; delayMs: number }
  | { kind: 'fail'; status?: number; retryAfterSeconds?: number };

interface ChatRequest {
  model?: string;
  messages?: { role: string; content: string }[];
  response_format?: {
    type?: string;
    json_schema?: { schema?: { properties?: { coins?: { items?: { properties?: { coin?: { enum?: string[] } } } } } } };
  };
}

const ERROR_TYPES: Record<number, [string, string]> = {
  401: ['invalid_request_error', 'invalid_api_key'],
  429: ['requests', 'rate_limit_exceeded'],
  500: ['server_error', 'server_error'],
  503: ['server_error', 'overloaded'],
};

function coinsOf(request: ChatRequest): string[] {
  return request.response_format?.json_schema?.schema?.properties?.coins?.items?.properties?.coin?.enum ?? [];
}

function goodAnswer(request: ChatRequest): string {
  const user = request.messages?.find((m) => m.role === 'user')?.content ?? '';
  const title = /^Title: (.*)$/m.exec(user)?.[1]?.toLowerCase() ?? '';
  const [score, label] = /crash|hack|plunge/.test(title)
    ? [-0.7, 'bearish']
    : /surge|rally|record/.test(title)
      ? [0.7, 'bullish']
      : [0, 'neutral'];
  return JSON.stringify({
    coins: coinsOf(request).map((coin) => ({
      coin,
      score,
      label,
      confidence: 0.9,
      reason: `The title says so for ${coin}.`,
    })),
  });
}

export class FakeOpenAiServer {
  readonly requests: ChatRequest[] = [];
  private script: Behaviour[] = [];
  private fallback: Behaviour = { kind: 'good' };

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly key: string,
  ) {}

  static async start(options: { port?: number; key?: string } = {}): Promise<FakeOpenAiServer> {
    // The handler needs the instance, the instance needs the listening server's port.
    const holder: { instance?: FakeOpenAiServer } = {};
    const server = createServer((req, res) => void holder.instance?.handle(req, res));
    await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    holder.instance = new FakeOpenAiServer(server, `http://127.0.0.1:${port}/v1`, options.key ?? 'test-key');
    return holder.instance;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const url = req.url ?? '';
    if (url === '/control/script' && req.method === 'POST') {
      this.script.push(...(JSON.parse(body) as { script: Behaviour[] }).script);
      return json(res, 200, { queued: this.script.length });
    }
    if (url === '/control/default' && req.method === 'POST') {
      this.fallback = JSON.parse(body) as Behaviour;
      return json(res, 200, { default: this.fallback });
    }
    if (url === '/control/requests') return json(res, 200, { requests: this.requests });
    if (url !== '/v1/chat/completions' || req.method !== 'POST') return json(res, 404, error(404, 'not found'));
    if (req.headers.authorization !== `Bearer ${this.key}`) {
      return json(res, 401, error(401, 'Incorrect API key provided.'));
    }
    let request: ChatRequest;
    try {
      request = JSON.parse(body) as ChatRequest;
    } catch {
      return json(res, 400, error(400, 'We could not parse the JSON body of your request.'));
    }
    this.requests.push(request);
    const behaviour = this.script.shift() ?? this.fallback;
    const complete = (content: string | null, finish = 'stop', refusal: string | null = null): void =>
      json(res, 200, {
        id: `chatcmpl-${this.requests.length}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: request.model ?? 'unknown',
        choices: [
          { index: 0, message: { role: 'assistant', content, refusal }, logprobs: null, finish_reason: finish },
        ],
        usage: { prompt_tokens: 120, completion_tokens: 40, total_tokens: 160 },
      });
    const coins = coinsOf(request);
    switch (behaviour.kind) {
      case 'good':
        return complete(goodAnswer(request));
      case 'slow':
        await new Promise((resolve) => setTimeout(resolve, behaviour.delayMs));
        if (res.destroyed) return;
        return complete(goodAnswer(request));
      case 'malformed':
        return complete('Sure! Overall the sentiment looks bullish for bitcoin.');
      case 'schema':
        return complete(
          JSON.stringify({ coins: coins.map((coin) => ({ coin, score: 5, label: 'very good', confidence: 2 })) }),
        );
      case 'partial': {
        const answer = JSON.parse(goodAnswer(request)) as { coins: unknown[] };
        return complete(JSON.stringify({ coins: answer.coins.slice(0, 1) }));
      }
      case 'truncated': {
        const full = goodAnswer(request);
        return complete(full.slice(0, Math.floor(full.length / 2)), 'length');
      }
      case 'refusal':
        return complete(null, 'stop', "I'm sorry, I can't help with that.");
      case 'fail': {
        const status = behaviour.status ?? 500;
        const headers =
          behaviour.retryAfterSeconds === undefined ? {} : { 'retry-after': String(behaviour.retryAfterSeconds) };
        return json(res, status, error(status, 'The server had an error while processing your request.'), headers);
      }
    }
  }
}

function error(status: number, message: string): unknown {
  const [type, code] = ERROR_TYPES[status] ?? ['invalid_request_error', null];
  return { error: { message, type, param: null, code } };
}

function json(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  if (res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(value));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function isMain(): boolean {
  const entry = process.argv[1];
  return entry !== undefined && realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
}

if (isMain()) {
  const { values } = parseArgs({
    options: { port: { type: 'string', default: '0' }, key: { type: 'string', default: 'test-key' } },
  });
  const server = await FakeOpenAiServer.start({ port: Number(values.port), key: values.key });
  process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
  const stop = (): void => {
    void server.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
