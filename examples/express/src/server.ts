import { createRunstream, defineWorkflow, RunFailedError, z } from '@runstream/sdk';
import express from 'express';
import type { AddressInfo } from 'node:net';

const fulfilOrder = defineWorkflow({
  name: 'shop.fulfil-order',
  input: z.object({ orderId: z.number().int().positive(), items: z.array(z.string()).min(1) }),
  async run(ctx, { orderId, items }) {
    const reserved = await ctx.step('reserve-stock', async () => items.map((item) => `${item}#reserved`));
    const charge = await ctx.step('charge-card', async () => ({ orderId, amountCents: items.length * 1_250 }));
    await ctx.step('ship', async (step) => {
      for (const item of reserved) await step.chunk(`packed ${item}`);
    });
    return { orderId, shipped: reserved.length, charged: charge.amountCents };
  },
});

const rs = await createRunstream({ workflows: [fulfilOrder], concurrency: 4 });

const app = express();
// Runstream's API (runs, SSE streams, OpenAPI at /runstream/api/openapi.json), before any body parser.
app.use('/runstream', rs.handler());
app.use(express.json());

app.post('/orders/:id/fulfil', async (req, res) => {
  const run = await rs.start(
    fulfilOrder,
    { orderId: Number(req.params.id), items: req.body?.items ?? [] },
    { idempotencyKey: `fulfil-${req.params.id}` },
  );
  res.status(202).json({ runId: run.id, stream: `/runstream/api/runs/${run.id}/stream` });
});

app.get('/orders/:runId/result', async (req, res) => {
  try {
    res.json(await rs.run<{ orderId: number; shipped: number; charged: number }>(req.params.runId).result());
  } catch (error) {
    if (error instanceof RunFailedError) res.status(409).json({ failed: error.error?.message });
    else throw error;
  }
});

const server = app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
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
