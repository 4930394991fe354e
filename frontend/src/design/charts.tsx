// Plain SVG bar and line charts for the dashboard. Each chart is an image with a summary for screen
// readers, a tooltip per bar or point, and its numbers in a table below (a chart alone is not accessible).
import { useId } from "react";
import { barLayout, blandAltmanBounds, linePath, linePoints, niceMax, scaleOf, ticks, xOf, yOf, type Plot } from "./chartGeometry";

export interface BarChartProps {
  title: string;
  values: number[];
  labels: string[];
  /** Label under the first, middle and last bar instead of every one. */
  sparseLabels?: boolean;
  /** Labels on the x axis at shares of its length (0: left end, 1: right end) instead of under bars. */
  xTicks?: { at: number; label: string }[];
  yLabel: string;
  width?: number;
  height?: number;
  color?: string;
  summary: string;
}

const MARGIN = { left: 36, right: 8, top: 8, bottom: 30 };

export function BarChart({ title, values, labels, sparseLabels = false, xTicks, yLabel, width = 360, height = 150,
  color = "var(--accent)", summary }: BarChartProps) {
  const id = useId();
  const plot: Plot = { left: MARGIN.left, top: MARGIN.top, width: width - MARGIN.left - MARGIN.right,
    height: height - MARGIN.top - MARGIN.bottom };
  const max = niceMax(Math.max(0, ...values));
  const bars = barLayout(values, plot, { max, gap: 0.2 });
  const shownLabels = new Set(sparseLabels ? [0, Math.floor((values.length - 1) / 2), values.length - 1] : values.map((_, index) => index));
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${width} ${height}`} width="100%" role="img" aria-labelledby={`${id}-title ${id}-summary`}
        preserveAspectRatio="xMidYMid meet">
        <title id={`${id}-title`}>{title}</title>
        <desc id={`${id}-summary`}>{summary}</desc>
        {ticks(max, 4).map((tick) => (
          <g key={tick} className="chart-tick">
            <line x1={plot.left} x2={plot.left + plot.width} y1={yOf(tick, max, plot)} y2={yOf(tick, max, plot)} />
            <text x={plot.left - 4} y={yOf(tick, max, plot)} dy="0.32em" textAnchor="end">{tick}</text>
          </g>
        ))}
        <text className="chart-axis-label" transform={`translate(10 ${plot.top + plot.height / 2}) rotate(-90)`} textAnchor="middle">
          {yLabel}
        </text>
        {bars.map((bar) => (
          <rect key={bar.index} x={bar.x} y={bar.y} width={bar.width} height={Math.max(bar.height, bar.value > 0 ? 1 : 0)}
            fill={color} className="chart-bar">
            <title>{`${labels[bar.index]}: ${bar.value}`}</title>
          </rect>
        ))}
        <line className="chart-baseline" x1={plot.left} x2={plot.left + plot.width} y1={plot.top + plot.height} y2={plot.top + plot.height} />
        {xTicks?.map((tick) => (
          <text key={tick.label} className="chart-label" x={plot.left + tick.at * plot.width} y={plot.top + plot.height + 14}
            textAnchor={tick.at <= 0 ? "start" : tick.at >= 1 ? "end" : "middle"}>{tick.label}</text>
        ))}
        {!xTicks && bars.filter((bar) => shownLabels.has(bar.index)).map((bar) => (
          <text key={bar.index} className="chart-label" x={bar.x + bar.width / 2} y={plot.top + plot.height + 14}
            textAnchor={sparseLabels && bar.index === values.length - 1 ? "end" : sparseLabels && bar.index === 0 ? "start" : "middle"}>
            {labels[bar.index]}
          </text>
        ))}
      </svg>
      <details className="chart-data">
        <summary>Numbers <span className="sr-only">of {title}</span></summary>
        <table>
          <thead><tr><th scope="col">{sparseLabels ? "Hour" : "Bin"}</th><th scope="col">{yLabel}</th></tr></thead>
          <tbody>{values.map((value, index) => <tr key={index}><td>{labels[index]}</td><td>{value}</td></tr>)}</tbody>
        </table>
      </details>
    </figure>
  );
}

export interface LineChartProps {
  title: string;
  summary: string;
  /** In the order the line joins them; `label` is the point's tooltip. */
  points: { x: number; y: number; label: string }[];
  xMax: number;
  yMax: number;
  xTicks: number[];
  yTicks: number[];
  xLabel: string;
  yLabel: string;
  formatY?: (value: number) => string;
  /** The numbers behind the chart: column headings and rows. */
  columns: string[];
  rows: (string | number)[][];
  width?: number;
  height?: number;
}

const LINE_MARGIN = { left: 40, right: 12, top: 8, bottom: 34 };

export function LineChart({ title, summary, points, xMax, yMax, xTicks, yTicks, xLabel, yLabel, formatY = String,
  columns, rows, width = 420, height = 180 }: LineChartProps) {
  const id = useId();
  const plot: Plot = { left: LINE_MARGIN.left, top: LINE_MARGIN.top, width: width - LINE_MARGIN.left - LINE_MARGIN.right,
    height: height - LINE_MARGIN.top - LINE_MARGIN.bottom };
  const placed = linePoints(points, plot, xMax, yMax);
  const bottom = plot.top + plot.height;
  return (
    <figure className="chart line-chart">
      <svg viewBox={`0 0 ${width} ${height}`} width="100%" role="img" aria-labelledby={`${id}-title ${id}-summary`}
        preserveAspectRatio="xMidYMid meet">
        <title id={`${id}-title`}>{title}</title>
        <desc id={`${id}-summary`}>{summary}</desc>
        {yTicks.map((tick) => (
          <g key={tick} className="chart-tick">
            <line x1={plot.left} x2={plot.left + plot.width} y1={yOf(tick, yMax, plot)} y2={yOf(tick, yMax, plot)} />
            <text x={plot.left - 4} y={yOf(tick, yMax, plot)} dy="0.32em" textAnchor="end">{formatY(tick)}</text>
          </g>
        ))}
        {xTicks.map((tick) => (
          <text key={tick} className="chart-label" x={xOf(tick, xMax, plot)} y={bottom + 13} textAnchor="middle">{tick}</text>
        ))}
        <text className="chart-axis-label" transform={`translate(10 ${plot.top + plot.height / 2}) rotate(-90)`} textAnchor="middle">
          {yLabel}
        </text>
        <text className="chart-axis-label" x={plot.left + plot.width / 2} y={height - 3} textAnchor="middle">{xLabel}</text>
        <line className="chart-baseline" x1={plot.left} x2={plot.left + plot.width} y1={bottom} y2={bottom} />
        <line className="chart-baseline" x1={plot.left} x2={plot.left} y1={plot.top} y2={bottom} />
        {placed.length > 1 && <path className="chart-line" d={linePath(placed)} />}
        {placed.map((point, index) => (
          <circle key={index} className="chart-point" cx={point.x} cy={point.y} r={3.5}>
            <title>{points[index].label}</title>
          </circle>
        ))}
      </svg>
      <details className="chart-data">
        <summary>Numbers <span className="sr-only">of {title}</span></summary>
        <table>
          <thead><tr>{columns.map((column) => <th key={column} scope="col">{column}</th>)}</tr></thead>
          <tbody>{rows.map((row, index) => <tr key={index}>{row.map((cell, column) => <td key={column}>{cell}</td>)}</tr>)}</tbody>
        </table>
      </details>
    </figure>
  );
}

export interface BlandAltmanProps {
  title: string;
  /** [mean of the two, first − second] per pair, as the agreement report gives them. */
  points: [number, number][];
  bias: number | null;
  lowerLimit: number | null;
  upperLimit: number | null;
  unit?: string | null;
  width?: number;
  height?: number;
}

const BA_MARGIN = { left: 44, right: 70, top: 8, bottom: 34 };

/** Bland-Altman plot: each pair's difference against its mean, with the bias and the 95 % limits of
 * agreement as horizontal lines. */
export function BlandAltmanPlot({ title, points, bias, lowerLimit, upperLimit, unit, width = 420, height = 200 }: BlandAltmanProps) {
  const id = useId();
  const plot: Plot = { left: BA_MARGIN.left, top: BA_MARGIN.top, width: width - BA_MARGIN.left - BA_MARGIN.right,
    height: height - BA_MARGIN.top - BA_MARGIN.bottom };
  const bounds = blandAltmanBounds(points, [bias, lowerLimit, upperLimit]);
  const x = (value: number) => scaleOf(value, bounds.xMin, bounds.xMax, plot.left, plot.width);
  const y = (value: number) => scaleOf(value, bounds.yMin, bounds.yMax, plot.top + plot.height, -plot.height);
  const suffix = unit ? ` ${unit}` : "";
  const format = (value: number | null) => (value === null ? "—" : `${value.toFixed(2)}${suffix}`);
  const lines = [["bias", bias], ["+1.96 SD", upperLimit], ["−1.96 SD", lowerLimit]] as const;
  return (
    <figure className="chart bland-altman">
      <svg viewBox={`0 0 ${width} ${height}`} width="100%" role="img" aria-labelledby={`${id}-title ${id}-summary`}
        preserveAspectRatio="xMidYMid meet">
        <title id={`${id}-title`}>{title}</title>
        <desc id={`${id}-summary`}>{`${points.length} pairs; bias ${format(bias)}, limits of agreement ${format(lowerLimit)} to ${format(upperLimit)}.`}</desc>
        <line className="chart-baseline" x1={plot.left} x2={plot.left} y1={plot.top} y2={plot.top + plot.height} />
        <g className="chart-tick"><line x1={plot.left} x2={plot.left + plot.width} y1={y(0)} y2={y(0)} /></g>
        {[bounds.yMin, 0, bounds.yMax].map((tick) => (
          <text key={tick} className="chart-label" x={plot.left - 4} y={y(tick)} dy="0.32em" textAnchor="end">{tick.toPrecision(2)}</text>
        ))}
        {lines.map(([name, value]) => value !== null && (
          <g key={name} className={name === "bias" ? "chart-bias" : "chart-limit"}>
            <line x1={plot.left} x2={plot.left + plot.width} y1={y(value)} y2={y(value)} strokeDasharray={name === "bias" ? undefined : "4 3"} />
            <text x={plot.left + plot.width + 4} y={y(value)} dy="0.32em">{`${name} ${value.toFixed(2)}`}</text>
          </g>
        ))}
        {points.map(([mean, difference], index) => (
          <circle key={index} className="chart-point" cx={x(mean)} cy={y(difference)} r={3}>
            <title>{`mean ${mean.toFixed(2)}${suffix}, difference ${difference.toFixed(2)}${suffix}`}</title>
          </circle>
        ))}
        <text className="chart-axis-label" transform={`translate(10 ${plot.top + plot.height / 2}) rotate(-90)`} textAnchor="middle">
          {`difference${suffix}`}
        </text>
        <text className="chart-axis-label" x={plot.left + plot.width / 2} y={height - 3} textAnchor="middle">{`mean of the two${suffix}`}</text>
      </svg>
      <details className="chart-data">
        <summary>Numbers <span className="sr-only">of {title}</span></summary>
        <table>
          <thead><tr><th scope="col">Mean</th><th scope="col">Difference</th></tr></thead>
          <tbody>{points.map(([mean, difference], index) => <tr key={index}><td>{mean}</td><td>{difference}</td></tr>)}</tbody>
        </table>
      </details>
    </figure>
  );
}
