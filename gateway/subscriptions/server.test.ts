import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MessageType, stringifyMessage } from 'graphql-ws';
import * as ws from 'ws';
import { nextFrames, nextMessageHead } from './server.ts';

/** ws's frame parser, which @types/ws does not declare. */
interface FrameReceiver {
  on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): void;
  on(event: 'error', listener: (error: Error) => void): void;
  write(chunk: Buffer): void;
}
const { Receiver } = ws as unknown as { Receiver: new (options: { isServer: boolean }) => FrameReceiver };

/** The text messages a WebSocket client reads from `bytes`. */
async function readFrames(bytes: Buffer): Promise<string[]> {
  const messages: string[] = [];
  const receiver = new Receiver({ isServer: false });
  receiver.on('message', (data: Buffer, isBinary: boolean) => {
    assert.equal(isBinary, false, 'a text frame');
    messages.push(data.toString('utf8'));
  });
  receiver.on('error', (error) => assert.fail(error));
  receiver.write(bytes);
  await new Promise((resolve) => setImmediate(resolve));
  return messages;
}

test("next frames built from shared payload bytes carry graphql-ws's own messages, for any operation id", async () => {
  // Frame lengths on each side of the 7-bit (125), 16-bit (65,535) and 64-bit length encodings.
  const notes = [
    ...Array.from({ length: 200 }, (_, n) => 'a'.repeat(n)),
    'caf\u00e9 "quoted" \u2603'.repeat(4_000),
    'b'.repeat(65_400),
    'b'.repeat(65_500),
  ];
  const payloads = notes.map((note) => ({ data: { predictionCreated: { id: 'p-1', note } } }));
  const shared = payloads.map((payload) => Buffer.from(JSON.stringify(payload)));
  for (const id of ['1', 'a"b\\c', '\u00e9\u2603\n']) {
    assert.deepEqual(
      await readFrames(nextFrames(nextMessageHead(id), shared)),
      payloads.map((payload) => stringifyMessage({ id, type: MessageType.Next, payload })),
    );
  }
});
