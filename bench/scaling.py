#!/usr/bin/env python3
"""Helpers of bench/scaling.sh: request bodies, generated policy packs, timings of
`warden classify`, and the markdown report with a growth statement per curve.

    scaling.py bodies   --warden W --prose crates/policy/benches/common/prose.rs --out DIR \
                        --prompt-kb "1 16 128" --turns "1 20 200"
    scaling.py policy   --rules N [--base policies/default.toml] --out FILE
    scaling.py classify --warden W [--policy FILE] --text-file F --lines K
    scaling.py report   --results results.jsonl --meta meta.json

Only the standard library.
"""

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time

# The prompt of bench/run.sh, so the curves' common rows compare with its figures.
BASE_PROMPT = "Summarize our AI governance policy for internal use."


# ---- bodies --------------------------------------------------------------------------------

def prose_sentences(path):
    """The SENTENCES of the decision benchmark's prose (a Rust file), in order."""
    src = open(path, encoding="utf-8").read()
    m = re.search(r"SENTENCES\s*:\s*&\[&str\]\s*=\s*&\[(.*?)\];", src, re.S)
    if not m:
        raise SystemExit(f"no SENTENCES array in {path}")
    out = [json.loads('"' + s + '"') for s in re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1))]
    if not out:
        raise SystemExit(f"SENTENCES in {path} is empty")
    return out


def classify(warden, texts, policy=None):
    """Risk tier of each text, by `warden classify` (the gateway's engine, one text each)."""
    lines = "".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(texts))
    cmd = [warden, "classify"] + (["--policy", policy] if policy else [])
    p = subprocess.run(cmd, input=lines, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise SystemExit(f"warden classify failed: {p.stderr.strip()[-400:]}")
    out = {}
    for line in p.stdout.splitlines():
        d = json.loads(line)
        out[int(d["id"])] = d
    return [out[i] for i in range(len(texts))]


def text_of(size, sentences):
    """As `text_of` of the decision benchmark: sentences repeated in order, cut at `size` bytes."""
    parts, n, i = [], 0, 0
    while n < size:
        s = sentences[i % len(sentences)] + " "
        parts.append(s)
        n += len(s.encode())
        i += 1
    text = "".join(parts).encode()[:size].decode("utf-8", "ignore")
    return text


def chat_body(messages):
    return json.dumps({"model": "openclaw", "messages": messages}, ensure_ascii=False, separators=(",", ":"))


def cmd_bodies(a):
    sentences = prose_sentences(a.prose)
    verdicts = classify(a.warden, sentences)
    green = [s for s, v in zip(sentences, verdicts) if v["risk"] == "green"]
    dropped = [{"text": s, "risk": v["risk"], "rules": v.get("rules", [])}
               for s, v in zip(sentences, verdicts) if v["risk"] != "green"]
    if not green:
        raise SystemExit("no sentence of the decision benchmark's prose is green")
    os.makedirs(a.out, exist_ok=True)
    meta = {"sentences": len(sentences), "green_sentences": len(green), "dropped": dropped, "bodies": {}}

    def write(name, body):
        with open(os.path.join(a.out, name + ".json"), "w", encoding="utf-8") as f:
            f.write(body)
        meta["bodies"][name] = len(body.encode())

    # The prompt curve: one user message of KB kilobytes of green prose.
    prompts = {kb: text_of(kb * 1024, green) for kb in map(int, a.prompt_kb.split())}
    # The turns curve: N messages, a sentence each, alternating, the last one the user's.
    turns = {}
    for n in map(int, a.turns.split()):
        turns[n] = [{"role": "user" if (n - 1 - i) % 2 == 0 else "assistant", "content": green[i % len(green)]}
                    for i in range(n)]
    checks = [BASE_PROMPT] + list(prompts.values()) + [" ".join(m["content"] for m in t) for t in turns.values()]
    for text, v in zip(checks, classify(a.warden, checks)):
        if v["risk"] != "green":
            raise SystemExit(f"a benchmark text is {v['risk']} ({v.get('rules')}), not green: {text[:120]!r}...")
    write("base", chat_body([{"role": "user", "content": BASE_PROMPT}]))
    for kb, text in prompts.items():
        write(f"prompt-{kb}", chat_body([{"role": "user", "content": text}]))
    for n, messages in turns.items():
        write(f"turns-{n}", chat_body(messages))
    with open(os.path.join(a.out, "base-prompt.txt"), "w", encoding="utf-8") as f:
        f.write(BASE_PROMPT)
    json.dump(meta, open(os.path.join(a.out, "bodies.json"), "w"), indent=1)
    print(json.dumps(meta))


# ---- policy packs --------------------------------------------------------------------------

def generated_rules(n):
    """The decision benchmark's `generated_pack(n)` rules (same xorshift, same words), with ids
    `gen.rI` so they can follow the default pack's. Made-up words: none fires on prose."""
    state = 0x9E3779B97F4A7C15
    mask = (1 << 64) - 1

    def word():
        nonlocal state
        w = []
        for _ in range(7):
            state ^= (state << 13) & mask
            state ^= state >> 7
            state ^= (state << 17) & mask
            w.append(chr(ord("a") + state % 26))
        return "".join(w)

    out = []
    for i in range(n):
        tier = "red" if i % 2 == 0 else "amber"
        terms = [f'"{word()} {word()}"' for _ in range(4)]
        summarize = word()
        near_a = [f'"{word()}"' for _ in range(3)]
        near_b = [f'"{word()}"' for _ in range(3)]
        out.append(
            f'\n[[rule]]\nid = "gen.r{i}"\ntier = "{tier}"\ncategory = "c"\n'
            f'terms = [{", ".join(terms)}, "summarize {summarize}"]\n'
            f'near = [{{ words = [{", ".join(near_a)}], with = [{", ".join(near_b)}] }}]\nreason = "r"\n')
    return "".join(out)


def cmd_policy(a):
    if a.base:
        head = open(a.base, encoding="utf-8").read().rstrip("\n") + "\n"
        head += f"\n# ---- {a.rules} generated rules (bench/scaling.py: made-up words, none fires)\n"
    else:
        head = '[policy]\nname = "generated"\n'
    with open(a.out, "w", encoding="utf-8") as f:
        f.write(head + generated_rules(a.rules))
    base_rules = len(re.findall(r"^\[\[rule\]\]", head, re.M))
    print(json.dumps({"generated": a.rules, "base_rules": base_rules, "total": base_rules + a.rules,
                      "bytes": os.path.getsize(a.out)}))


def cmd_classify(a):
    """Times `warden classify` on 1 line (start-up: parse and compile the pack) and on K lines,
    the best of 3 each; the difference over K - 1 is the time of one decision, start-up
    excluded."""
    text = open(a.text_file, encoding="utf-8").read()
    line = json.dumps({"id": "x", "text": text}) + "\n"
    cmd = [a.warden, "classify"] + (["--policy", a.policy] if a.policy else [])

    def run(k):
        t = time.perf_counter()
        p = subprocess.run(cmd, input=line * k, capture_output=True, text=True, timeout=600)
        dt = time.perf_counter() - t
        if p.returncode != 0:
            raise SystemExit(f"warden classify failed: {p.stderr.strip()[-400:]}")
        risks = {json.loads(x)["risk"] for x in p.stdout.splitlines()}
        return dt, risks

    one = min(run(1)[0] for _ in range(3))
    runs = [run(a.lines) for _ in range(3)]
    many = min(dt for dt, _ in runs)
    risks = set().union(*(r for _, r in runs))
    print(json.dumps({"load_ms": round(one * 1e3, 1),
                      "decision_us": round(max(0.0, many - one) / (a.lines - 1) * 1e6, 2),
                      "lines": a.lines, "risks": sorted(risks)}))


# ---- report --------------------------------------------------------------------------------

def fmt(v, digits=0):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:,.{digits}f}"


def ms(us):
    return fmt(us / 1000, 3) if us is not None else "-"


def signed_ms(us):
    return ("+" if us >= 0 else "") + f"{us / 1000:.3f}"


def growth(label, xs, ys, xname, unit, per):
    """One line: how `label` grows from the first to the last row against the input.

    Ratio last/first of the figure against the ratio of the inputs, the log-log slope, and a
    straight line a + b*x fitted to every row (least squares): when it fits every row within
    15 %, the growth is called linear, with its fixed part a and its cost b per unit."""
    pts = [(x, y) for x, y in zip(xs, ys) if y is not None and x is not None]
    if len(pts) < 2:
        return f"- {label}: too few rows to say."
    (x0, y0), (x1, y1) = pts[0], pts[-1]
    if y0 <= 0 or x0 <= 0:
        return f"- {label}: {fmt(y0, 1)} -> {fmt(y1, 1)} {unit}."
    rin, rout = x1 / x0, y1 / y0
    slope = math.log(rout) / math.log(rin) if rin != 1 and rout > 0 else float("nan")
    n = len(pts)
    mx = sum(x for x, _ in pts) / n
    my = sum(y for _, y in pts) / n
    var = sum((x - mx) ** 2 for x, _ in pts)
    b = sum((x - mx) * (y - my) for x, y in pts) / var if var else 0.0
    a0 = my - b * mx
    resid = max(abs(a0 + b * x - y) / y for x, y in pts) if all(y > 0 for _, y in pts) else float("inf")
    if 0.8 <= rout <= 1.25:
        verdict = "**flat** (within 25 % while the input grows x{:,.0f})".format(rin)
    elif rout < 0.8:
        verdict = "**falls** as the input grows"
    elif n >= 3 and resid <= 0.15 and b > 0:
        share = b * x1 / y1 * 100
        verdict = (f"**linear**: a + b*x fits every row within {resid * 100:.0f} % "
                   f"(a = {a0:,.1f} {unit}, b = {b:,.3g} {unit} {per}; at the last row "
                   f"{share:.0f} % of it grows with the input)")
    elif slope > 1.15:
        verdict = f"**superlinear** (log-log slope {slope:.2f})"
    elif slope < 0.85:
        verdict = f"**sublinear** (log-log slope {slope:.2f})"
    else:
        verdict = f"**roughly proportional** (log-log slope {slope:.2f})"
        if resid <= 0.5:
            verdict += f"; a straight line a + b*x is off by up to {resid * 100:.0f} % (a = {a0:,.1f}, b = {b:,.3g} {unit} {per})"
    if n >= 3 and "linear**:" not in verdict and "flat" not in verdict and all(y > 0 for _, y in pts):
        steps = [(pts[i + 1][1] / pts[i][1], pts[i][0], pts[i + 1][0]) for i in range(n - 1)]
        r, xa, xb = max(steps)
        if r > 1.25:
            verdict += f"; the largest step is from {fmt(xa)} to {fmt(xb)} (x{r:.2f})"
    return (f"- {label}: {fmt(y0, 1)} -> {fmt(y1, 1)} {unit} (x{rout:.2f}) while {xname} grows "
            f"x{rin:,.0f} ({fmt(x0)} -> {fmt(x1)}): {verdict}.")


def compare2(label, a_name, a, b_name, b, unit, digits=1, higher_better=False):
    if a is None or b is None or a == 0:
        return f"- {label}: {a_name} {fmt(a, digits)}, {b_name} {fmt(b, digits)} {unit}."
    r = b / a
    if 0.8 <= r <= 1.25:
        verdict = "**flat** (within 25 %)"
    elif (r > 1) == higher_better:
        verdict = "**better** with the larger input"
    else:
        verdict = "**worse** with the larger input"
    return f"- {label}: {a_name} {fmt(a, digits)} {unit}, {b_name} {fmt(b, digits)} {unit} (x{r:.2f}): {verdict}."


def wrk_table(rows, keycol, keyname, with_added=True):
    """rows: wrk records of one curve; direct and warden rows of one key side by side."""
    key = keyname != "conc"
    print(("| " + keyname + " " if key else "") + "| conc | target | req/s | p50 ms | p99 ms | added p50 ms | added p99 ms "
          "| Warden CPU µs/req | stand-in CPU µs/req |")
    print(("|---:" if key else "") + "|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        added = ("", "")
        if r["target"] == "warden" and with_added:
            d = next((q for q in rows if q["target"] == "direct" and q[keycol] == r[keycol] and q["conc"] == r["conc"]), None)
            if d:
                added = (signed_ms(r["p50"] - d["p50"]), signed_ms(r["p99"] - d["p99"]))
        wcpu = fmt(r["wcpu"]) if r["target"] != "direct" else "-"
        print((f"| {r.get(keycol + '_label', fmt(r[keycol]))} " if key else "") + f"| {r['conc']} | {r['target']} | {fmt(r['rps'])} | {ms(r['p50'])} "
              f"| {ms(r['p99'])} | {added[0]} | {added[1]} | {wcpu} | {fmt(r['scpu'])} |")


def cmd_report(a):
    recs = [json.loads(line) for line in open(a.results) if line.strip()]
    meta = json.load(open(a.meta))
    times = {r["curve"]: r["seconds"] for r in recs if r["kind"] == "time"}
    by = lambda curve, kind: [r for r in recs if r["curve"] == curve and r["kind"] == kind]

    print(f"## Warden scaling curves, {meta['date']}")
    print()
    for line in meta["header"]:
        print(f"- {line}")
    print()
    print("Every row is measured in this run, on this machine, one after the other; `direct` is wrk -> "
          "stand-in, `warden` is wrk -> Warden -> stand-in. Added = warden minus direct at the same "
          "percentile and concurrency. CPU per request is the process's utime+stime over the measured "
          "run (`/proc/PID/stat`, 10 ms ticks) divided by the requests completed. A growth line compares "
          "the last row with the first: the ratio of the figures against the ratio of the inputs, and "
          "whether a straight line (a fixed part plus a cost per unit) fits every row.")

    curves = [c for c in meta["curves"]]
    for curve in curves:
        print()
        secs = times.get(curve)
        took = f" (took {secs / 60:.1f} min)" if secs is not None else ""
        if curve == "prompt":
            rows = by("prompt", "wrk")
            print(f"### prompt: prompt size{took}")
            print()
            b = meta.get("bodies", {})
            dropped = b.get("dropped", [])
            print(f"One user message of green office prose: the decision benchmark's sentences "
                  f"(crates/policy/benches/common/prose.rs) repeated to size; "
                  f"{b.get('green_sentences', '?')} of its {b.get('sentences', '?')} sentences are green on their "
                  f"own, and only those are used" + (" (left out: " + "; ".join(
                      f"\"{d['text']}\" ({d['risk']}, {', '.join(d['rules'])})" for d in dropped) + ")" if dropped else "") +
                  f". JSON, non-streaming. Largest body {fmt(max((v for k, v in b.get('bodies', {}).items() if k.startswith('prompt-')), default=0))} bytes; "
                  f"{meta.get('body_limit_note', '')}")
            print()
            for r in rows:
                r["x_label"] = f"{r['x']} KB"
            wrk_table(rows, "x", "prompt")
            print()
            for conc in sorted({r["conc"] for r in rows}, reverse=True):
                w = [r for r in rows if r["target"] == "warden" and r["conc"] == conc]
                d = {r["x"]: r for r in rows if r["target"] == "direct" and r["conc"] == conc}
                xs = [r["x"] for r in w]
                print(growth(f"Warden CPU per request, c={conc}", xs, [r["wcpu"] for r in w], "the prompt", "µs", "per KB"))
                print(growth(f"Added p50 latency, c={conc}", xs, [(r["p50"] - d[r["x"]]["p50"]) if r["x"] in d else None for r in w],
                             "the prompt", "µs", "per KB"))
                print(growth(f"Wall time per request through Warden (1 / req/s), c={conc}", xs, [1e6 / r["rps"] for r in w],
                             "the prompt", "µs", "per KB"))
        elif curve == "turns":
            rows = by("turns", "wrk")
            print(f"### turns: conversation length{took}")
            print()
            print("N messages, a sentence of the same green prose each, alternating user and assistant, the "
                  "last one the user's; JSON, non-streaming. Body sizes: " + ", ".join(
                      f"{k.split('-')[1]} turns {fmt(v)} B" for k, v in meta.get("bodies", {}).get("bodies", {}).items()
                      if k.startswith("turns-")) + ".")
            print()
            for r in rows:
                r["x_label"] = f"{r['x']}"
            wrk_table(rows, "x", "turns")
            print()
            for conc in sorted({r["conc"] for r in rows}, reverse=True):
                w = [r for r in rows if r["target"] == "warden" and r["conc"] == conc]
                d = {r["x"]: r for r in rows if r["target"] == "direct" and r["conc"] == conc}
                xs = [r["x"] for r in w]
                print(growth(f"Warden CPU per request, c={conc}", xs, [r["wcpu"] for r in w], "the conversation", "µs", "per turn"))
                print(growth(f"Added p50 latency, c={conc}", xs, [(r["p50"] - d[r["x"]]["p50"]) if r["x"] in d else None for r in w],
                             "the conversation", "µs", "per turn"))
        elif curve == "concurrency":
            rows = by("concurrency", "wrk")
            print(f"### concurrency{took}")
            print()
            print(f"run.sh's prompt (\"{BASE_PROMPT}\"), JSON; wrk -t1 at c=1, else -t{meta.get('threads', 2)}; "
                  f"open-file limit {meta.get('nofile', '?')}.")
            print()
            for r in rows:
                r["x_label"] = f"{r['x']}"
            wrk_table(rows, "x", "conc")
            print()
            w = [r for r in rows if r["target"] == "warden"]
            d = {r["x"]: r for r in rows if r["target"] == "direct"}
            xs = [r["x"] for r in w]
            print(growth("Warden CPU per request", xs, [r["wcpu"] for r in w], "the concurrency", "µs", "per connection"))
            print(growth("Warden p50 latency", xs, [r["p50"] for r in w], "the concurrency", "µs", "per connection"))
            print(growth("Added p50 latency", xs, [(r["p50"] - d[r["x"]]["p50"]) if r["x"] in d else None for r in w],
                         "the concurrency", "µs", "per connection"))
            print(growth("Warden req/s", xs, [r["rps"] for r in w], "the concurrency", "req/s", "per connection"))
            sat = [r for r in w if r["x"] >= 16]
            if len(sat) >= 2:
                print(growth("Warden p50 latency from c=16 on (the CPUs saturated)", [r["x"] for r in sat],
                             [r["p50"] for r in sat], "the concurrency", "µs", "per connection"))
            print("- Little's law (mean latency = c / req/s when every connection always has a request in "
                  "flight): " + "; ".join(f"c={r['x']}: mean {r['mean'] / 1000:.2f} ms vs c / req/s "
                                          f"{r['x'] / r['rps'] * 1000:.2f} ms" for r in w)
                  + ". Once the two cores are saturated, throughput stays put and latency grows with the "
                  "connections waiting; per-request CPU shows whether Warden's own cost changes with the load.")
        elif curve == "trail":
            print(f"### trail: audit trail size{took}")
            print()
            fill = next(iter(by("trail", "fill")), None)
            n = meta.get("trail_records", 0)
            print(f"Two SQLite stores written by bench/console_fill.py (keys, approvals, a valid hash chain, the "
                  f"gateway's payload shapes): one with no records, one with {n:,}. For each, `warden serve` is "
                  f"started and the console's index is let catch up first; then the console pages are timed "
                  f"(`Server-Timing`, {meta.get('page_repeats')} requests each after 2 warm-ups, signed in as the admin), then "
                  f"wrk -c16 appends through Warden (JSON, run.sh's prompt, a requester key), then Warden is "
                  f"stopped and `warden audit verify` reads the whole chain.")
            if meta.get("trail_note"):
                print()
                print(meta["trail_note"])
            print()
            if fill:
                rps = fill["records"] / fill["seconds"] if fill["seconds"] else 0
                print(f"- Fill: {fill['records']:,} records in {fill['seconds']:.1f} s ({rps:,.0f} records/s, "
                      f"peak RSS {fill.get('rss_mb', '?')} MiB), database {fill.get('db_mb', '?')} MiB. "
                      f"console_fill.py's own figures: {fill.get('stats', '')}")
                if n and n < 10_000_000 and fill["seconds"]:
                    print(f"- At that rate, if it stays linear, 10,000,000 records would take about "
                          f"{10_000_000 / rps / 60:.0f} min to fill (console_fill.py holds every record in memory "
                          f"until it writes them).")
            idx = {r["store"]: r for r in by("trail", "index")}
            for store in ("empty", "full"):
                if store in idx and idx[store]["records"]:
                    r = idx[store]
                    print(f"- Console index catch-up on the {store} store after `warden serve` started: "
                          f"{r['records']:,} records in {r['seconds']:.1f} s ({r['records'] / max(r['seconds'], 1e-9):,.0f} records/s).")
            print()
            w = {r["store"]: r for r in by("trail", "wrk")}
            v = {r["store"]: r for r in by("trail", "verify")}
            print("| trail at start | req/s (c=16) | p50 ms | p99 ms | Warden CPU µs/req | verified records | verify s | verify records/s |")
            print("|---:|---:|---:|---:|---:|---:|---:|---:|")
            for store in ("empty", "full"):
                if store not in w:
                    continue
                r, vv = w[store], v.get(store, {})
                print(f"| {fmt(r['x'])} | {fmt(r['rps'])} | {ms(r['p50'])} | {ms(r['p99'])} | {fmt(r['wcpu'])} | "
                      f"{fmt(vv.get('records'))} | {fmt(vv.get('seconds'), 2)} | "
                      f"{fmt(vv['records'] / vv['seconds'] if vv.get('seconds') else None)} |")
            pages = by("trail", "page")
            if pages:
                print()
                print("Console pages, `Server-Timing: app;dur=` in ms:")
                print()
                print("| page | empty p50 | empty max | full p50 | full max | HTTP |")
                print("|---|---:|---:|---:|---:|---|")
                labels = []
                for p in pages:
                    if p["page"] not in labels:
                        labels.append(p["page"])
                for label in labels:
                    e = next((p for p in pages if p["page"] == label and p["store"] == "empty"), {})
                    f = next((p for p in pages if p["page"] == label and p["store"] == "full"), {})
                    codes = ",".join(sorted(set(e.get("codes", []) + f.get("codes", []))))
                    print(f"| `{label}` | {fmt(e.get('p50'), 2)} | {fmt(e.get('max'), 2)} | {fmt(f.get('p50'), 2)} | "
                          f"{fmt(f.get('max'), 2)} | {codes} |")
            print()
            if "empty" in w and "full" in w:
                print(compare2("Append throughput (req/s)", "empty", w["empty"]["rps"], f"{n:,} records", w["full"]["rps"],
                               "req/s", 0, higher_better=True))
                print(compare2("Append p99", "empty", w["empty"]["p99"] / 1000, f"{n:,} records", w["full"]["p99"] / 1000, "ms", 3))
                print(compare2("Warden CPU per request", "empty", w["empty"]["wcpu"], f"{n:,} records", w["full"]["wcpu"], "µs", 0))
            if "empty" in v and "full" in v and v["full"]["seconds"]:
                ve, vf = v["empty"], v["full"]
                print(f"- `warden audit verify`: {vf['records']:,} records in {vf['seconds']:.2f} s = "
                      f"{vf['records'] / vf['seconds']:,.0f} records/s (empty store plus the appended records: "
                      f"{ve['records']:,} in {ve['seconds']:.2f} s): **linear** in the trail, it reads every record.")
            if pages:
                worst = max((p for p in pages if p["store"] == "full"), key=lambda p: p["p50"], default=None)
                pairs = [(next((q for q in pages if q["page"] == p["page"] and q["store"] == "empty"), None), p)
                         for p in pages if p["store"] == "full"]
                ratios = [f["p50"] / e["p50"] for e, f in pairs if e and e["p50"] > 0]
                if worst and ratios:
                    print(f"- Console pages: full/empty p50 ratio {min(ratios):.1f}x to {max(ratios):.1f}x while the trail "
                          f"grows from 0 to {n:,} records; slowest page on the full store `{worst['page']}` at p50 "
                          f"{worst['p50']:.2f} ms (max {worst['max']:.2f} ms). The trail spans 30 days whatever its size, so "
                          f"a larger trail also means more records per hour of the overview's charts.")
        elif curve == "policy":
            print(f"### policy: number of rules{took}")
            print()
            print(meta.get("policy_note", ""))
            print()
            rows = by("policy", "wrk")
            cls = {r["x"]: r for r in by("policy", "classify")}
            packs = {r["x"]: r for r in by("policy", "pack")}
            print("| generated rules | rules in force | pack KiB | req/s (c=16) | p50 ms | p99 ms | Warden CPU µs/req "
                  "| `warden classify` start-up ms | classify µs/decision |")
            print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
            for r in rows:
                p, c = packs.get(r["x"], {}), cls.get(r["x"], {})
                label = "built-in pack" if r["x"] == 0 else fmt(r["x"])
                print(f"| {label} | {fmt(p.get('total'))} | {fmt(p.get('bytes', 0) / 1024 if p.get('bytes') else None)} | "
                      f"{fmt(r['rps'])} | {ms(r['p50'])} | {ms(r['p99'])} | {fmt(r['wcpu'])} | {fmt(c.get('load_ms'), 1)} | "
                      f"{fmt(c.get('decision_us'), 2)} |")
            print()
            g = [r for r in rows if r["x"] > 0]
            xs = [r["x"] for r in g]
            print(growth("Warden CPU per request", xs, [r["wcpu"] for r in g], "the generated rules", "µs", "per rule"))
            print(growth("Warden p50 latency", xs, [r["p50"] for r in g], "the generated rules", "µs", "per rule"))
            print(growth("Wall time per request through Warden (1 / req/s)", xs, [1e6 / r["rps"] for r in g],
                         "the generated rules", "µs", "per rule"))
            cx = [x for x in xs if x in cls]
            if cx:
                print(growth("`warden classify` time per decision", cx, [cls[x]["decision_us"] for x in cx],
                             "the generated rules", "µs", "per rule"))
                print(growth("`warden classify` start-up (parse and compile the pack)", cx, [cls[x]["load_ms"] for x in cx],
                             "the generated rules", "ms", "per rule"))
        elif curve == "replicas":
            print(f"### replicas: one vs two Warden replicas on PostgreSQL{took}")
            print()
            print(meta.get("replicas_note", ""))
            print()
            rows = by("replicas", "wrk")
            print("| replicas | total req/s | p50 ms | p99 ms | Warden CPU µs/req (all replicas) | stand-in CPU µs/req | req/s vs one |")
            print("|---:|---:|---:|---:|---:|---:|---:|")
            base = rows[0]["rps"] if rows else 0
            for r in rows:
                print(f"| {r['x']} | {fmt(r['rps'])} | {ms(r['p50'])} | {ms(r['p99'])} | {fmt(r['wcpu'])} | {fmt(r['scpu'])} | "
                      f"{r['rps'] / base:.2f} |")
            print()
            if len(rows) >= 2:
                print(compare2("Total throughput", "1 replica", rows[0]["rps"], "2 replicas", rows[-1]["rps"], "req/s", 0,
                               higher_better=True) + " Ideal scaling would be x2; on two cores the replicas, "
                      "PostgreSQL, the stand-in and wrk share the same CPUs.")
                print(compare2("p99", "1 replica", rows[0]["p99"] / 1000, "2 replicas", rows[-1]["p99"] / 1000, "ms", 3))
            for r in by("replicas", "verify"):
                print(f"- Chain both replicas wrote: `{r['out']}` ({r['seconds']:.2f} s); decision records "
                      f"{r.get('decisions', '?')}, requests completed {r.get('completed', '?')}.")
    print()
    print("Time per curve: " + ", ".join(f"{c} {times[c] / 60:.1f} min" for c in curves if c in times)
          + f"; total {sum(times.values()) / 60:.1f} min.")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bodies")
    b.add_argument("--warden", required=True)
    b.add_argument("--prose", required=True)
    b.add_argument("--out", required=True)
    b.add_argument("--prompt-kb", default="1 16 128")
    b.add_argument("--turns", default="1 20 200")
    p = sub.add_parser("policy")
    p.add_argument("--rules", type=int, required=True)
    p.add_argument("--base")
    p.add_argument("--out", required=True)
    c = sub.add_parser("classify")
    c.add_argument("--warden", required=True)
    c.add_argument("--policy")
    c.add_argument("--text-file", required=True)
    c.add_argument("--lines", type=int, default=2000)
    r = sub.add_parser("report")
    r.add_argument("--results", required=True)
    r.add_argument("--meta", required=True)
    a = ap.parse_args()
    {"bodies": cmd_bodies, "policy": cmd_policy, "classify": cmd_classify, "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    main()
