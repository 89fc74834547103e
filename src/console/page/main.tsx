import { render } from 'preact';
import './board.css';
import { SessionApp } from './session.js';
import { TokenApp } from './token.js';

/** The server tells the page how people sign in: with Gitea, or (sign-in not configured) the feed token. */
const signIn = document.querySelector<HTMLMetaElement>('meta[name="aiworker-sign-in"]')?.content;

render(signIn === 'gitea' ? <SessionApp /> : <TokenApp />, document.getElementById('app')!);
