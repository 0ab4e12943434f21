// Bench driver for the original TypeScript implementation's SidecarManager under Bun (bench/peers.py, peer "seed_bun").
//
// bench/peers.py copies this file, the original's sidecar-manager.ts (--seed-source) and message-adapter.ts into
// <cache>/seed/ui-electrobun/src/bun/, so its resolveRunnerPath() finds the runner at
// <cache>/seed/sidecar/dist/bench-runner.mjs, and puts <cache>/seed/bin (where `node` is the
// bench emitter) first on PATH, so findNodeRuntime() picks the emitter. The emitter ignores
// its argument (the .mjs path) and replays $SIDECAR_BENCH_TRANSCRIPT.
//
// Usage: bun driver.ts --mode tput|ttfm [--sessions N] [--count K]
// Prints one line "@@RESULT {json}" (the same fields as bench/peers/driver.py).
import { readFileSync } from "fs";
import { SidecarManager } from "./sidecar-manager.ts";

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

function procStatusKb(key: string): number {
  const m = readFileSync("/proc/self/status", "utf8").match(new RegExp(`^${key}:\\s+(\\d+) kB`, "m"));
  return m ? Number(m[1]) : -1;
}

interface Turn {
  messages: number[];
  firstMs: number[];
  errors: string[];
  startedAt: number;
  endedAt: number;
}

let seq = 0;

/** Start n sessions at once; resolve when every one has ended its turn (status done/error). */
function runTurn(mgr: SidecarManager, n: number): Promise<Turn> {
  const messages = new Array<number>(n).fill(0);
  const firstMs = new Array<number>(n).fill(-1);
  const errors: string[] = [];
  let pending = n;
  const startedAt = performance.now(); // just before the first startSession
  return new Promise((resolve) => {
    const finish = () => {
      if (--pending === 0) resolve({ messages, firstMs, errors, startedAt, endedAt: performance.now() });
    };
    for (let i = 0; i < n; i++) {
      const sid = `bench-${process.pid}-${++seq}`;
      const t0 = performance.now();
      const r = mgr.startSession(sid, "bench", "go", {});
      if (!r.ok) {
        errors.push(`${sid}: startSession failed: ${r.error}`);
        finish();
        continue;
      }
      // Bun is single-threaded: nothing is read before this synchronous code yields, so
      // subscribing right after startSession misses nothing.
      mgr.onMessage(sid, (_s, msgs) => {
        if (firstMs[i] < 0) firstMs[i] = performance.now() - t0;
        messages[i] += msgs.length;
      });
      let ended = false;
      mgr.onStatus(sid, (_s, status, error) => {
        if (ended || (status !== "done" && status !== "error")) return;
        ended = true;
        if (status === "error") errors.push(`${sid}: ${error ?? "error"}`);
        mgr.stopSession(sid); // the emitter exits on "stop"
        finish();
      });
    }
  });
}

async function main(): Promise<void> {
  const mode = arg("mode", "tput");
  const sessions = Number(arg("sessions", "1"));
  const count = Number(arg("count", "10"));
  const baseRssKb = procStatusKb("VmRSS");
  const mgr = new SidecarManager();
  const cpu0 = process.cpuUsage();
  const result: Record<string, unknown> = { peer: "seed_bun", mode, sessions, base_rss_kb: baseRssKb, errors: [] };
  if (mode === "ttfm") {
    const first: number[] = [];
    const msgs: number[] = [];
    for (let k = 0; k < count; k++) {
      const t = await runTurn(mgr, 1);
      first.push(t.firstMs[0] / 1000);
      msgs.push(t.messages[0]);
      (result.errors as string[]).push(...t.errors);
    }
    Object.assign(result, { first_s: first, messages: msgs });
  } else {
    const t = await runTurn(mgr, sessions);
    const cpu = process.cpuUsage(cpu0);
    Object.assign(result, {
      messages: t.messages,
      first_s: t.firstMs.map((x) => x / 1000),
      wall_s: (t.endedAt - t.startedAt) / 1000,
      cpu_s: (cpu.user + cpu.system) / 1e6,
      errors: t.errors,
    });
  }
  result.hwm_kb = procStatusKb("VmHWM");
  console.log(`@@RESULT ${JSON.stringify(result)}`);
  process.exit(0);
}

main().catch((err) => {
  console.log(`@@RESULT ${JSON.stringify({ peer: "seed_bun", errors: [String(err?.stack ?? err)] })}`);
  process.exit(1);
});
