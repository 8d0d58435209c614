// Waits until an order is PAID by following its live status (GET /v1/orders/{id}/events), not by polling.
// Plain Node 20, no dependencies:  node examples/wait-for-paid.mjs <order-service URL> <access token> <order id>
// Prints each status as it arrives; exits 0 once PAID, 1 if the order ends otherwise (CANCELLED, REFUNDED).
const [base, token, orderId] = process.argv.slice(2);
let lastEventId; // sent back on reconnection: the stream resumes after it, nothing missed, nothing repeated

for (;;) {
  const headers = { authorization: `Bearer ${token}`, ...(lastEventId && { 'last-event-id': lastEventId }) };
  const res = await fetch(`${base}/v1/orders/${orderId}/events`, { headers });
  if (res.status === 204) process.exit(1); // final, and we have seen its last state
  if (!res.ok) throw new Error(`${res.status} ${await res.text()}`); // 401: sign in again; 429: too many open streams
  let buffer = '';
  for await (const chunk of res.body.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    for (let end; (end = buffer.indexOf('\n\n')) >= 0; buffer = buffer.slice(end + 2)) {
      // One event: `event:`, `id:` and `data:` lines (comments, `: keep-alive`, start with a colon).
      const fields = Object.fromEntries(buffer.slice(0, end).split('\n').map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)]));
      if (!fields.data) continue;
      lastEventId = fields.id;
      const { status } = JSON.parse(fields.data);
      console.log(`order ${orderId}: ${status}`);
      if (status !== 'PENDING') process.exit(status === 'PAID' ? 0 : 1);
    }
  }
  await new Promise((resolve) => setTimeout(resolve, 1_000)); // the server ended the stream (a restart, a token check): reconnect
}
