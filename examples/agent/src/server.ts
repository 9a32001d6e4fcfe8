import { createRunstream } from '@runstream/sdk';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { workflows } from './workflows.ts';

// DATABASE_URL (and REDIS_URL) from the environment, else an embedded PostgreSQL in ./.runstream.
const rs = await createRunstream({ workflows, concurrency: 4 });
const api = rs.handler({ basePath: '/runstream' });

const page = `<!doctype html>
<meta charset="utf-8"><title>Ask the agent</title>
<form id="ask"><input name="question" value="What is Runstream?" size="40"><button>Ask</button></form>
<pre id="log"></pre><p id="answer"></p>
<script type="module">
const log = (line) => (document.getElementById('log').textContent += line + '\\n');
document.getElementById('ask').addEventListener('submit', async (event) => {
  event.preventDefault();
  const question = new FormData(event.target).get('question');
  const response = await fetch('/runstream/api/runs', {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ workflow: 'agent.answer', input: { question } }),
  });
  const { run } = await response.json();
  const answer = document.getElementById('answer');
  answer.textContent = '';
  const stream = new EventSource('/runstream/api/runs/' + run.id + '/stream');
  stream.addEventListener('message', (message) => {
    const event = JSON.parse(message.data);
    log(event.seq + ' ' + event.type + (event.data.step ? ' ' + event.data.step : ''));
    if (event.type === 'step.chunk') answer.textContent += event.data.data;
  });
  stream.addEventListener('done', () => stream.close());
});
</script>`;

const server = createServer((req, res) => {
  if (req.url === '/' && req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page);
    return;
  }
  if (req.url?.startsWith('/runstream/')) return api(req, res);
  res.writeHead(404).end();
});
server.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});

const stop = async () => {
  server.close();
  server.closeAllConnections();
  await rs.close();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
