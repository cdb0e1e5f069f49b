#!/usr/bin/env python3
"""Collects the SUMMARY lines the run-*.sh scripts print into one ratio table (markdown) and a bar chart
(SVG, drawn by hand: no plotting library needed). Ratios are ours over Python's partd, higher is better;
the chart's axis is logarithmic with a line at 1x (parity).

  summary.py LOG TABLE.md CHART.svg
"""
import json, math, platform, subprocess, sys, time


def main():
    log, table_path, chart_path = sys.argv[1:4]
    rows = [json.loads(l[len("SUMMARY "):]) for l in open(log) if l.startswith("SUMMARY ")]
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
    cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    lines = [f"Machine: {cpu}, {cores} cores, {platform.system()} {platform.release()}; {time.strftime('%Y-%m-%d')}.", "",
             "| workload | line | ours ÷ Python (partd; chest for the spill dictionary) |", "|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['workload']} | {r['line']} | {r['ratio']:.1f}× |")
    text = "\n".join(lines) + "\n"
    open(table_path, "w").write(text)
    print(text)

    bar_h, gap, left, width = 18, 6, 330, 420
    height = 40 + len(rows) * (bar_h + gap) + 30
    lo, hi = math.log10(0.5), math.log10(max([r["ratio"] for r in rows] + [2]) * 1.2)
    def x(v): return left + (math.log10(max(v, 0.5)) - lo) / (hi - lo) * width
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 70}" height="{height}" font-family="sans-serif" font-size="12">',
           '<text x="10" y="20" font-size="14">swift-partd vs Python partd and chest (ratio, log scale; higher is better)</text>']
    for i, r in enumerate(rows):
        y = 40 + i * (bar_h + gap)
        color = "#2a7ab9" if r["ratio"] >= 1 else "#c0504d"
        svg.append(f'<text x="{left - 8}" y="{y + 13}" text-anchor="end">{r["workload"]}: {r["line"]}</text>')
        svg.append(f'<rect x="{left}" y="{y}" width="{max(1, x(r["ratio"]) - left):.1f}" height="{bar_h}" fill="{color}"/>')
        svg.append(f'<text x="{x(r["ratio"]) + 4:.1f}" y="{y + 13}">{r["ratio"]:.1f}×</text>')
    one = x(1)
    svg.append(f'<line x1="{one:.1f}" y1="32" x2="{one:.1f}" y2="{height - 20}" stroke="black" stroke-dasharray="4 3"/>')
    svg.append(f'<text x="{one:.1f}" y="{height - 6}" text-anchor="middle">1× (parity)</text>')
    svg.append("</svg>")
    open(chart_path, "w").write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()
