import { expect } from 'chai';
import { parseCommands, plainText } from '../../handlers/commands/parse.js';
import { COMMAND_NAMES } from '../../handlers/commands/index.js';

const names = (body: string) => parseCommands(body, COMMAND_NAMES).map((c) => c.name);

describe('comment command parser', () => {
  it('finds commands at the start of a line, with their arguments', () => {
    expect(parseCommands('/approve\n/reject needs tests  \nthanks', COMMAND_NAMES)).to.deep.equal([
      { name: 'approve', args: '' },
      { name: 'reject', args: 'needs tests' },
    ]);
    expect(names('  /stage')).to.deep.equal(['stage']);
    expect(names('please /approve')).to.deep.equal([]);
  });

  it('ignores unknown commands and paths that look like commands', () => {
    expect(names('/unknown\n/usr/bin/env\n/Approve')).to.deep.equal([]);
  });

  it('never takes quoted lines or code for commands', () => {
    expect(names('> /approve')).to.deep.equal([]);
    expect(names('    /approve\n\t/cancel')).to.deep.equal([]);
    expect(names('```\n/approve\n```\n/stage')).to.deep.equal(['stage']);
    expect(names('~~~sh\n/approve\n~~~')).to.deep.equal([]);
  });

  it('closes a fence only with the same character, at least as long (CommonMark)', () => {
    expect(names('````\n```\n/approve\n````\n/stage')).to.deep.equal(['stage']);
    expect(names('```\n~~~\n/approve\n```\n/stage')).to.deep.equal(['stage']);
    expect(names('```\n/approve')).to.deep.equal([]);
  });

  it('reads Windows line endings', () => {
    expect(names('/approve\r\n/stage\r\n')).to.deep.equal(['approve', 'stage']);
  });
});

describe('plain text of a reply', () => {
  it('leaves out quoted lines and keeps the rest', () => {
    expect(plainText('> Which database?\n\nMariaDB, please.')).to.equal('MariaDB, please.');
    expect(plainText('> only a quote')).to.equal('');
  });

  it('keeps code blocks whole, quote markers inside them too', () => {
    expect(plainText('Like this:\n```\n> not a quote\n```')).to.equal('Like this:\n```\n> not a quote\n```');
  });

  it('tracks fences the way the command parser does', () => {
    expect(plainText('````\n```\n> still code\n````\n> a quote')).to.equal('````\n```\n> still code\n````');
  });
});
