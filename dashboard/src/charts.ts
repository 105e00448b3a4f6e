// Charts of the dashboard, drawn with uPlot (canvas, ~45 kB): bars per day or per run, and a
// line of a cost trend. Dollars are plotted as floats (pixels only: every figure shown as text
// comes from nanos). Each chart follows its container's width. Page thread only.

import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

import { NANOS_PER_USD } from './money.js';
import { h } from './dom.js';

export interface BarChartOpts {
  labels: string[]; // one per bar (x axis)
  values: bigint[]; // nanos, one per bar
  height?: number;
  color?: string;
  title?: string;
  kind?: 'bars' | 'line';
  tooltip?: (i: number) => string;
}

function usd(n: bigint): number {
  return Number(n) / Number(NANOS_PER_USD);
}

function axisUsd(v: number): string {
  if (v === 0) return '$0';
  if (Math.abs(v) >= 1000) return '$' + (v / 1000).toFixed(v >= 10_000 ? 0 : 1) + 'k';
  if (Math.abs(v) >= 1) return '$' + (Number.isInteger(v) ? v.toFixed(0) : v.toFixed(2));
  return '$' + v.toPrecision(2);
}

// A chart element; it draws once attached and follows its width.
export function costChart(opts: BarChartOpts): HTMLElement {
  const el = h('div', { class: 'chart', 'data-test': 'chart', 'data-points': String(opts.values.length) });
  const xs = opts.labels.map((_, i) => i);
  const ys = opts.values.map(usd);
  const kind = opts.kind ?? 'bars';
  const color = opts.color ?? '#3b6fd8';
  let plot: uPlot | null = null;
  const make = () => {
    const width = Math.max(200, el.clientWidth || 600);
    // Room for a label every ~44 px of plot.
    const step = Math.max(1, Math.ceil(xs.length / Math.max(1, Math.floor((width - 70) / 44))));
    const bars = uPlot.paths.bars!({ size: [0.7, 48], gap: 1 });
    const o: uPlot.Options = {
      width,
      height: opts.height ?? 180,
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { show: kind === 'line' } },
      scales: {
        x: { time: false, range: (_u, min, max) => [min - 0.6, max + 0.6] },
        y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] },
      },
      axes: [
        {
          // One tick per bar; with many bars, every k-th label.
          splits: () => xs.filter((i) => i % step === 0),
          values: (_u, splits) => splits.map((s) => opts.labels[s] ?? ''),
          gap: 4,
          size: 28,
          grid: { show: false },
        },
        { values: (_u, splits) => splits.map(axisUsd), size: 56, grid: { stroke: '#eef1f5' } },
      ],
      series: [
        {},
        kind === 'bars'
          ? { label: opts.title ?? 'cost', paths: bars, fill: color, stroke: color, points: { show: false } }
          : { label: opts.title ?? 'cost', stroke: color, width: 2, fill: color + '22', points: { show: true, size: 5 } },
      ],
    };
    plot?.destroy();
    plot = new uPlot(o, [xs, ys], el);
  };
  const ro = new ResizeObserver(() => {
    if (!el.isConnected) return;
    if (!plot || Math.abs(plot.width - el.clientWidth) > 4) make();
  });
  ro.observe(el);
  if (opts.values.length === 0) {
    el.appendChild(h('div', { class: 'muted chart-empty' }, 'No data for this period.'));
  }
  return el;
}
