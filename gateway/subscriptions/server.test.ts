import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MessageType, stringifyMessage } from 'graphql-ws';
import { nextMessage, nextMessageHead } from './server.ts';

test("a next message built from shared payload bytes is graphql-ws's own, for any operation id", () => {
  const payload = { data: { predictionCreated: { id: 'p-1', note: 'caf\u00e9 "quoted" \u2603', n: 1.5 } } };
  const shared = Buffer.from(JSON.stringify(payload));
  for (const id of ['1', 'a"b\\c', '\u00e9\u2603\n']) {
    const bytes = nextMessage(nextMessageHead(id), shared);
    assert.equal(bytes.toString('utf8'), stringifyMessage({ id, type: MessageType.Next, payload }));
  }
});
