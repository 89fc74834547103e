import { TASK_STATES } from '../tasks/states.js';

/*
 * The dashboard page, embedded as strings: `tsc` copies no .html/.css/.js into dist/, so the same
 * module serves it under tsx and from the build. Plain HTML, CSS and JS, no build step; the only
 * script it loads besides its own is the Socket.IO client that Socket.IO itself serves.
 */

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>aiworker</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/dashboard/dashboard.css">
</head>
<body>
<header>
  <h1>aiworker <span id="scope" class="scope"></span></h1>
  <span id="connection" class="conn conn-offline" data-state="offline" role="status" aria-live="polite">not connected</span>
</header>
<form id="token-form" class="token-form" hidden>
  <label for="token-input">Feed token</label>
  <input id="token-input" name="token" type="password" autocomplete="off" required>
  <button type="submit">Connect</button>
  <p id="token-error" class="error" role="alert"></p>
</form>
<main id="dashboard" class="dashboard" hidden>
  <section id="board" class="board" aria-label="Tasks by state"></section>
  <aside class="side">
    <section>
      <h2>Agents</h2>
      <ul id="agents" class="list"></ul>
    </section>
    <section>
      <h2>Recent deploys</h2>
      <ul id="deployments" class="list"></ul>
    </section>
  </aside>
</main>
<script src="/socket.io/socket.io.min.js"></script>
<script src="/dashboard/dashboard.js"></script>
</body>
</html>
`;

export const DASHBOARD_CSS = `
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328; background: #f6f8fa; }
header { display: flex; align-items: center; justify-content: space-between; padding: 10px 16px; background: #24292f; color: #fff; }
h1 { font-size: 18px; margin: 0; }
h2 { font-size: 13px; margin: 0 0 8px; text-transform: uppercase; letter-spacing: .04em; color: #57606a; }
.scope { font-weight: normal; color: #d0d7de; margin-left: 6px; }
.conn { padding: 2px 10px; border-radius: 12px; font-size: 12px; background: #6e7781; }
.conn-live { background: #1a7f37; }
.conn-connecting, .conn-syncing, .conn-reconnecting { background: #9a6700; }
.conn-refused, .conn-error, .conn-offline { background: #cf222e; }
.token-form { max-width: 360px; margin: 40px auto; padding: 16px; background: #fff; border: 1px solid #d0d7de; border-radius: 6px; display: grid; gap: 8px; }
.error { color: #cf222e; margin: 0; min-height: 1em; }
.dashboard { display: grid; gap: 16px; padding: 16px; }
.board { display: grid; grid-template-columns: repeat(8, minmax(140px, 1fr)); gap: 10px; overflow-x: auto; align-items: start; }
.column { background: #eaeef2; border-radius: 6px; padding: 8px; min-height: 120px; }
.count { color: #6e7781; font-weight: normal; }
.cards { list-style: none; margin: 0; padding: 0; display: grid; gap: 8px; }
.card { background: #fff; border: 1px solid #d0d7de; border-radius: 6px; padding: 8px; }
.card-head { font-weight: 600; }
.task-id { color: #57606a; margin-right: 4px; }
.meta { display: flex; flex-wrap: wrap; gap: 4px 10px; margin-top: 6px; font-size: 12px; color: #57606a; }
.question { margin-top: 6px; font-size: 12px; background: #fff8c5; padding: 4px 6px; border-radius: 4px; }
.side { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; align-items: start; }
.side section { background: #fff; border: 1px solid #d0d7de; border-radius: 6px; padding: 10px; }
.list { list-style: none; margin: 0; padding: 0; display: grid; gap: 6px; font-size: 13px; }
.dot { display: inline-block; width: 8px; height: 8px; border-radius: 50%; margin-right: 6px; background: #8c959f; }
.dot-idle { background: #1a7f37; }
.dot-busy { background: #bf8700; }
.status-succeeded, .status-success, .status-ready { color: #1a7f37; }
.status-failed, .status-failure, .status-error { color: #cf222e; }
.muted { color: #6e7781; }
a { color: #0969da; }
@media (max-width: 700px) { .side { grid-template-columns: 1fr; } }
`;

// String.raw keeps the script's backslashes as written; the states come from the state machine.
export const DASHBOARD_JS = String.raw`(function () {
  'use strict';
  var STATES = ${JSON.stringify(TASK_STATES)};
  var TOKEN_KEY = 'aiworkerFeedToken';
  var MAX_DEPLOYMENTS = 20;

  var params = new URLSearchParams(location.search);
  var projectId = parseProjectId(params.get('projectId'));
  var tasks = new Map();
  var agents = new Map();
  var deployments = [];
  var lastEventId = null;
  var socket = null;

  function $(id) { return document.getElementById(id); }

  function parseProjectId(value) {
    if (value === null || value === '') return null;
    var n = Number(value);
    return Number.isInteger(n) && n > 0 ? n : NaN;
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // Only http(s) links are rendered, so a stored URL can never run script.
  function link(url, text) {
    try {
      var u = new URL(url);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
    } catch (e) {
      return null;
    }
    var a = el('a', null, text);
    a.href = url;
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    return a;
  }

  function setConnection(state, text) {
    var node = $('connection');
    node.className = 'conn conn-' + state;
    node.dataset.state = state;
    node.textContent = text;
  }

  // A token in the URL is moved to this tab's session storage and out of the address bar and history.
  function takeToken() {
    var fromUrl = params.get('token');
    if (fromUrl) {
      sessionStorage.setItem(TOKEN_KEY, fromUrl);
      params.delete('token');
      var query = params.toString();
      history.replaceState(null, '', location.pathname + (query ? '?' + query : '') + location.hash);
      return fromUrl;
    }
    return sessionStorage.getItem(TOKEN_KEY);
  }

  function askForToken(message) {
    $('dashboard').hidden = true;
    $('token-form').hidden = false;
    $('token-error').textContent = message || '';
    $('token-input').focus();
  }

  function renderCard(task) {
    var card = el('li', 'card');
    card.dataset.taskId = String(task.id);
    var head = el('div', 'card-head');
    head.appendChild(el('span', 'task-id', '#' + task.id));
    head.appendChild(el('span', 'title', task.title));
    card.appendChild(head);
    var meta = el('div', 'meta');
    if (projectId === null) meta.appendChild(el('span', 'project', 'project ' + task.projectId));
    var agent = agentOf(task);
    if (agent) meta.appendChild(el('span', 'agent', 'agent: ' + agent.name));
    var pr = task.prUrl ? link(task.prUrl, task.prNumber ? 'PR #' + task.prNumber : 'PR') : null;
    if (pr) { pr.className = 'pr-link'; meta.appendChild(pr); }
    var preview = task.previewUrl ? link(task.previewUrl, 'preview') : null;
    if (preview) { preview.className = 'preview-link'; meta.appendChild(preview); }
    if (meta.childNodes.length) card.appendChild(meta);
    if (task.state === 'needs_input' && task.question) card.appendChild(el('div', 'question', task.question));
    return card;
  }

  // The assigned agent, else one that reports working on the task.
  function agentOf(task) {
    if (task.assignedAgentId) return agents.get(task.assignedAgentId) || { name: '#' + task.assignedAgentId };
    return Array.from(agents.values()).find(function (a) { return a.currentTaskId === task.id; }) || null;
  }

  function renderBoard() {
    var board = $('board');
    board.textContent = '';
    var sorted = Array.from(tasks.values()).sort(function (a, b) { return a.id - b.id; });
    STATES.forEach(function (state) {
      var column = el('section', 'column');
      column.dataset.state = state;
      var inState = sorted.filter(function (t) { return t.state === state; });
      var title = el('h2', null, state.replace(/_/g, ' ') + ' ');
      title.appendChild(el('span', 'count', inState.length));
      column.appendChild(title);
      var list = el('ol', 'cards');
      inState.forEach(function (t) { list.appendChild(renderCard(t)); });
      column.appendChild(list);
      board.appendChild(column);
    });
  }

  function renderAgents() {
    var list = $('agents');
    list.textContent = '';
    if (!agents.size) list.appendChild(el('li', 'muted', 'no agents yet'));
    agents.forEach(function (agent) {
      var item = el('li', 'agent-item');
      item.dataset.agentId = String(agent.id);
      item.appendChild(el('span', 'dot dot-' + agent.status));
      item.appendChild(el('span', null, agent.name + ' — ' + agent.status));
      if (agent.currentTaskId) item.appendChild(el('span', 'muted', ' on #' + agent.currentTaskId));
      list.appendChild(item);
    });
  }

  function renderDeployments() {
    var list = $('deployments');
    list.textContent = '';
    if (!deployments.length) list.appendChild(el('li', 'muted', 'no deploys yet'));
    deployments.forEach(function (d) {
      var item = el('li', 'deployment');
      item.appendChild(el('strong', null, d.environment));
      item.appendChild(document.createTextNode(' '));
      item.appendChild(el('span', 'status-' + d.status, d.status));
      if (d.dryRun) item.appendChild(el('span', 'muted', ' (dry-run)'));
      var target = d.url ? link(d.url, d.url) : null;
      if (target) { item.appendChild(el('br')); item.appendChild(target); }
      if (d.taskIds && d.taskIds.length) item.appendChild(el('div', 'muted', 'tasks ' + d.taskIds.map(function (id) { return '#' + id; }).join(', ')));
      if (d.createdAt) item.appendChild(el('div', 'muted', new Date(d.createdAt).toLocaleString()));
      list.appendChild(item);
    });
  }

  function render() {
    renderBoard();
    renderAgents();
    renderDeployments();
  }

  function seen(payload) {
    lastEventId = Math.max(lastEventId || 0, payload.eventId);
  }

  // Events carry only what changed; the card's links and agent are re-read, unless a newer event came first.
  function refresh(taskId) {
    var asked = tasks.has(taskId) ? tasks.get(taskId).eventId : undefined;
    socket.emit('getTask', { taskId: taskId }, function (answer) {
      if (!answer || !answer.task) return;
      var current = tasks.get(taskId);
      if (current && current.eventId !== asked) return;
      if (projectId !== null && answer.task.projectId !== projectId) return;
      answer.task.eventId = asked;
      answer.task.question = current ? current.question : null;
      tasks.set(taskId, answer.task);
      renderBoard();
    });
  }

  function touchTask(payload, change) {
    var task = tasks.get(payload.taskId) || {
      id: payload.taskId, projectId: payload.projectId, title: 'task ' + payload.taskId, state: 'backlog',
      prUrl: null, prNumber: null, previewUrl: null, assignedAgentId: null
    };
    change(task);
    task.eventId = payload.eventId;
    tasks.set(task.id, task);
    renderBoard();
    refresh(task.id);
  }

  function onEvents() {
    socket.on('task:created', function (p) {
      seen(p);
      touchTask(p, function (t) { t.title = p.title; t.state = 'backlog'; });
    });
    socket.on('task:status_changed', function (p) {
      seen(p);
      touchTask(p, function (t) { t.state = p.newState; });
    });
    socket.on('task:needs_input', function (p) {
      seen(p);
      touchTask(p, function (t) { t.state = 'needs_input'; t.question = p.question; });
    });
    socket.on('task:ready_to_test', function (p) {
      seen(p);
      touchTask(p, function (t) { t.state = 'ready_to_test'; t.previewUrl = p.previewUrl; });
    });
    socket.on('agent:status', function (p) {
      seen(p);
      var agent = agents.get(p.agentId) || { id: p.agentId, name: 'agent #' + p.agentId };
      agent.status = p.status;
      agent.currentTaskId = p.currentTaskId;
      agents.set(agent.id, agent);
      render();
    });
    socket.on('deploy:started', function (p) {
      seen(p);
      deployments.unshift({ environment: p.environment, status: 'running', taskIds: p.taskIds, url: null, createdAt: p.at });
      deployments = deployments.slice(0, MAX_DEPLOYMENTS);
      renderDeployments();
    });
    socket.on('deploy:completed', function (p) {
      seen(p);
      var running = deployments.find(function (d) { return d.environment === p.environment && d.status === 'running'; });
      if (running) {
        running.status = p.status;
        running.url = p.url;
      } else {
        deployments.unshift({ environment: p.environment, status: p.status, taskIds: [], url: p.url, createdAt: p.at });
        deployments = deployments.slice(0, MAX_DEPLOYMENTS);
      }
      renderDeployments();
    });
  }

  // After a reconnect, since= replays what was missed; the snapshot in the ack then replaces the board.
  function subscribe() {
    setConnection('syncing', 'syncing…');
    var request = {};
    if (projectId !== null) request.projectId = projectId;
    if (lastEventId !== null) request.since = lastEventId;
    socket.emit('subscribe', request, function (answer) {
      if (answer.error) {
        setConnection('error', answer.error.message);
        return;
      }
      var questions = new Map();
      tasks.forEach(function (t) { if (t.question) questions.set(t.id, t.question); });
      tasks = new Map(answer.tasks.map(function (t) { t.question = questions.get(t.id) || null; return [t.id, t]; }));
      agents = new Map(answer.agents.map(function (a) { return [a.id, a]; }));
      deployments = answer.deployments;
      lastEventId = Math.max(lastEventId || 0, answer.lastEventId);
      render();
      setConnection('live', 'live');
    });
  }

  function connect(token) {
    if (socket) socket.close();
    $('token-form').hidden = true;
    $('dashboard').hidden = false;
    setConnection('connecting', 'connecting…');
    socket = io({ auth: { token: token } });
    socket.on('connect', subscribe);
    socket.on('connect_error', function (err) {
      if (socket.active) {
        setConnection('reconnecting', 'reconnecting…');
        return;
      }
      // Refused by the server (wrong token, feed disabled): ask for a token again.
      sessionStorage.removeItem(TOKEN_KEY);
      setConnection('refused', 'refused');
      askForToken(err.message);
    });
    socket.on('disconnect', function () {
      setConnection(socket.active ? 'reconnecting' : 'offline', socket.active ? 'reconnecting…' : 'disconnected');
    });
    onEvents();
  }

  function start() {
    if (Number.isNaN(projectId)) {
      setConnection('error', 'projectId in the URL must be a positive whole number');
      return;
    }
    $('scope').textContent = projectId === null ? 'all projects' : 'project ' + projectId;
    renderBoard();
    $('token-form').addEventListener('submit', function (e) {
      e.preventDefault();
      var token = $('token-input').value.trim();
      if (!token) return;
      sessionStorage.setItem(TOKEN_KEY, token);
      connect(token);
    });
    var token = takeToken();
    if (token) connect(token);
    else askForToken('');
  }

  start();
})();
`;
