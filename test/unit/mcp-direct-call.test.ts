import { expect } from 'chai';
import { directToolCall } from '../../src/mcp/direct-call.js';

const headers = { accept: 'application/json, text/event-stream', 'content-type': 'application/json', 'mcp-protocol-version': '2025-06-18' };
const call = (params: unknown = { name: 'get_next_task', arguments: { projectId: 1 } }, extra: Record<string, unknown> = {}) => ({
  jsonrpc: '2.0',
  id: 7,
  method: 'tools/call',
  params,
  ...extra,
});

describe('directToolCall: which MCP requests the endpoint answers without the SDK transport', () => {
  it('takes a single tools/call with a string or integer id, arguments and _meta', () => {
    expect(directToolCall(call(), headers)).to.deep.equal({ id: 7, name: 'get_next_task', args: { projectId: 1 } });
    expect(directToolCall({ ...call(), id: 'a-1' }, headers)?.id).to.equal('a-1');
    expect(directToolCall(call({ name: 'list_tasks' }), headers)).to.deep.equal({ id: 7, name: 'list_tasks', args: undefined });
    expect(directToolCall(call({ name: 'x', arguments: {}, _meta: { progressToken: 1 } }), headers)?.name).to.equal('x');
    const { 'mcp-protocol-version': _v, ...noVersion } = headers;
    expect(directToolCall(call(), noVersion), 'the header is optional, as for the SDK').to.not.equal(null);
  });

  it('leaves every other message to the SDK', () => {
    const leftToSdk: Array<[string, unknown]> = [
      ['initialize', { jsonrpc: '2.0', id: 1, method: 'initialize', params: {} }],
      ['tools/list', { jsonrpc: '2.0', id: 1, method: 'tools/list' }],
      ['a notification', { jsonrpc: '2.0', method: 'notifications/initialized' }],
      ['a batch', [call()]],
      ['another JSON-RPC version', { ...call(), jsonrpc: '1.0' }],
      ['a fractional id', { ...call(), id: 1.5 }],
      ['a null id', { ...call(), id: null }],
      ['a field MCP does not define', call(undefined, { extra: true })],
      ['task augmentation', call({ name: 'x', task: { ttl: 1 } })],
      ['a name that is not a string', call({ name: 3 })],
      ['array arguments', call({ name: 'x', arguments: [1] })],
      ['no params', { jsonrpc: '2.0', id: 1, method: 'tools/call' }],
      ['a string body', 'tools/call'],
      ['null', null],
    ];
    for (const [what, message] of leftToSdk) expect(directToolCall(message, headers), what).to.equal(null);
  });

  it('leaves requests the SDK refuses to the SDK, so it answers them as it does (406, 400)', () => {
    expect(directToolCall(call(), { ...headers, accept: 'application/json' })).to.equal(null);
    expect(directToolCall(call(), { ...headers, accept: undefined })).to.equal(null);
    expect(directToolCall(call(), { ...headers, 'mcp-protocol-version': '1999-01-01' })).to.equal(null);
  });
});
