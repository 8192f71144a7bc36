// Runs one workflow of the Durable Task JavaScript SDK (@dapr/durabletask-js)
// against a Durable Task gRPC server such as `perdure server`:
//
//   node run.js [host:port] [instance-id] [input]
//
// The address defaults to $PERDURE_GRPC_ADDR, then 127.0.0.1:50001. The
// workflow "AddThree" chains three calls of the activity "addOne" on its
// input (a positive number) and sets a custom status. On success the
// script prints one JSON line on stdout and exits 0:
//
//   {"instanceId":"...","runtimeStatus":"COMPLETED","output":13,"customStatus":"added 3"}
//
// On failure or after the timeout ($PERDURE_JS_TIMEOUT_MS, 30000 by
// default) it prints the reason on stderr and exits 1. The SDK's own logs
// go to stderr too, so that stdout holds only the result.
"use strict";

// The SDK logs with console.log/info: keep stdout for the result.
console.log = console.error;
console.info = console.error;

const { TaskHubGrpcClient, TaskHubGrpcWorker } = require("@dapr/durabletask-js");
const { OrchestrationStatus } = require("@dapr/durabletask-js/orchestration/enum/orchestration-status.enum");

const address = process.argv[2] || process.env.PERDURE_GRPC_ADDR || "127.0.0.1:50001";
const instanceId = process.argv[3] || `js-${process.pid}-${Date.now()}`;
const input = Number(process.argv[4] || "10");
const timeoutMs = Number(process.env.PERDURE_JS_TIMEOUT_MS || "30000");

function fail(message) {
  process.stderr.write(`durabletask-js: ${message}\n`);
  process.exit(1);
}

// Activities must not return 0, false or "": the SDK (1.0.0) encodes a
// falsy result as no result at all.
const addOne = (ctx, n) => n + 1;

// The SDK runs async generators only (a plain generator counts as a
// workflow that schedules nothing).
const addThree = async function* (ctx, n) {
  let v = n;
  for (let i = 0; i < 3; i++) {
    v = yield ctx.callActivity(addOne, v);
  }
  ctx.setCustomStatus("added 3");
  return v;
};

async function main() {
  const timer = setTimeout(() => fail(`instance ${instanceId} did not complete within ${timeoutMs} ms`), timeoutMs);

  const worker = new TaskHubGrpcWorker(address);
  worker.addNamedOrchestrator("AddThree", addThree);
  worker.addNamedActivity("addOne", addOne);
  await worker.start();

  const client = new TaskHubGrpcClient(address);
  const id = await client.scheduleNewOrchestration("AddThree", input, instanceId);
  const state = await client.waitForOrchestrationCompletion(id, true, Math.ceil(timeoutMs / 1000));
  if (!state) {
    fail(`instance ${id} was not found`);
  }
  const runtimeStatus = OrchestrationStatus[state.runtimeStatus] ?? String(state.runtimeStatus);
  if (runtimeStatus !== "COMPLETED") {
    const f = state.failureDetails;
    fail(`instance ${id} ended ${runtimeStatus}${f ? `: [${f.errorType}] ${f.message}` : ""}`);
  }
  const result = {
    instanceId: state.instanceId,
    runtimeStatus,
    output: state.serializedOutput === undefined ? null : JSON.parse(state.serializedOutput),
    customStatus: state.serializedCustomStatus ?? null,
  };
  process.stdout.write(JSON.stringify(result) + "\n");

  clearTimeout(timer);
  await Promise.all([worker.stop(), client.stop()]);
  process.exit(0);
}

// The worker connects in the background: its errors arrive as unhandled
// rejections.
process.on("unhandledRejection", (err) => fail(`worker: ${err && err.message ? err.message : String(err)}`));
main().catch((err) => fail(err && err.stack ? err.stack : String(err)));
