// The timing loop both peers share. Prints one line of JSON like tokenizer_bench does: the best
// repetition after a warm-up (the one least disturbed by other jobs on the machine), the mean,
// CPU time per wall second and MB per CPU second (node's GC and JIT threads included: they are
// part of the peer's cost).
import { readFileSync } from 'node:fs'

export function measure(tokenizer, encode, file, minSeconds) {
  const text = readFileSync(file, 'utf8')
  const bytes = Buffer.byteLength(text, 'utf8')
  const now = () => Number(process.hrtime.bigint()) / 1e9
  const cpu = () => {
    const u = process.cpuUsage()
    return (u.user + u.system) / 1e6
  }
  let tokens = encode(text).length // warm-up: JIT, caches
  let reps = 0
  let best = Infinity
  const cpu0 = cpu()
  const t0 = now()
  do {
    const r0 = now()
    tokens = encode(text).length
    best = Math.min(best, now() - r0)
    reps++
  } while (now() - t0 < minSeconds)
  const wall = now() - t0
  const cpuSeconds = cpu() - cpu0
  console.log(
    JSON.stringify({
      what: 'encode',
      tokenizer,
      threads: 1,
      bytes,
      tokens,
      reps,
      seconds: best,
      mean_seconds: wall / reps,
      mb_per_s: bytes / 1e6 / best,
      cpu_per_wall: cpuSeconds / wall,
      mb_per_cpu_s: (bytes * reps) / 1e6 / cpuSeconds,
    }),
  )
}
