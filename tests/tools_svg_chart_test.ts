import assert from "node:assert/strict";
import { type ChartSpec, lineChart, type Series } from "../tools/lib/svg_chart.ts";
import { barChart, type BarChartSpec } from "../tools/lib/svg_bar_chart.ts";
import { log10Scale, log2Scale, niceTicks, sizeLabel } from "../tools/lib/svg_axis.ts";
import { seriesStyle } from "../tools/lib/svg_style.ts";
import { parseSvg, type SvgElement, svgProblems, textBox } from "../tools/lib/svg_check.ts";

const pow2 = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => 2 ** (a + i));

/** All elements of `svg` that satisfy `pred`. */
function find(svg: string, pred: (e: SvgElement) => boolean): SvgElement[] {
  const out: SvgElement[] = [];
  const walk = (e: SvgElement) => {
    if (pred(e)) out.push(e);
    e.children.forEach(walk);
  };
  walk(parseSvg(svg).root!);
  return out;
}
const hasClass = (c: string) => (e: SvgElement) => (e.attrs.class ?? "").split(" ").includes(c);
const tickLabels = (svg: string, axis: "x-axis" | "y-axis", panel = "main") =>
  find(svg, (e) => hasClass("panel")(e) && e.attrs["data-panel"] === panel).flatMap((p) => {
    const out: string[] = [];
    const walk = (e: SvgElement, inAxis: boolean) => {
      const here = inAxis || hasClass(axis)(e);
      if (here && hasClass("tick-label")(e)) out.push(e.text);
      e.children.forEach((c) => walk(c, here));
    };
    walk(p, false);
    return out;
  });

/** Latency-like data over the paper's sizes: bypass exactly on native, split above. */
function latencySeries(sizes: number[]): Series[] {
  const native = sizes.map((s) => [s, 4.5 + s / 600] as [number, number]);
  return [
    { label: "native", points: native },
    { label: "bypass", points: native.map(([x, y]) => [x, y]) },
    { label: "split", points: native.map(([x, y]) => [x, y + 7.2]) },
  ];
}

/** A latency chart over 2 B … 16 KiB. */
const latencySpec = (title: string): ChartSpec => ({
  title,
  xLabel: "Message size (bytes)",
  yLabel: "Latency (µs)",
  series: latencySeries(pow2(1, 14)),
});

Deno.test("svg charts: axes, ticks, log-scale sizes, legend, escaping", () => {
  assert.deepEqual(niceTicks(9.3), [0, 2, 4, 6, 8, 10]);
  assert.equal(sizeLabel(1048576), "1M");
  const svg = lineChart({
    title: "Latency <test>",
    xLabel: "Message size (bytes)",
    yLabel: "Latency (µs)",
    series: [
      { label: "native", points: [[2, 4.5], [1024, 6], [65536, 80]] },
      { label: "split & co", points: [[2, 9], [1024, 11], [65536, 90]] },
    ],
  });
  assert.deepEqual(svgProblems(svg, ["native", "split &amp; co"]), []);
  assert.match(svg, /class="axis-label x-label"[^>]*>Message size \(bytes\)/);
  assert.match(svg, /Latency &lt;test&gt;/);
  assert.match(svg, />64K</); // log2 axis labelled with sizes
  assert.match(svg, /log scale/);
  const log = lineChart({
    title: "Registration",
    xLabel: "Buffer size (4 KiB pages)",
    yLabel: "Time (µs)",
    logY: true,
    xTicks: "plain",
    series: [{ label: "bypass", points: [[1, 3], [1024, 4500]] }],
  });
  assert.deepEqual(svgProblems(log, ["bypass"]), []);
  assert.deepEqual(tickLabels(log, "y-axis"), ["1", "10", "100", "1,000", "10,000"]);
  assert.match(log, />1,024</); // plain page counts, not 1K
  assert.match(log, /Time \(µs\) — log scale/);
  // Linear x from the data, a long title wrapped onto two lines.
  const lin = lineChart({
    title: "Registration cost against buffer size, native and bypass, with and without the cache",
    xLabel: "Buffer size (4 KiB pages)",
    yLabel: "Time (µs)",
    logX: false,
    series: [{ label: "bypass", points: [[3, 40], [250, 900]] }],
  });
  assert.deepEqual(svgProblems(lin), []);
  assert.equal(find(lin, hasClass("title")).length, 2);
  const xt = tickLabels(lin, "x-axis").map((t) => Number(t.replace(",", "")));
  assert.ok(xt[0] <= 3 && xt.at(-1)! >= 250, xt.join(" "));
});

Deno.test("svg axes: the first and the last size are labelled, labels never crowd", () => {
  // The bandwidth sweep (2 B … 1 MiB, 20 sizes) is too dense to label every
  // size at 720 px: thinned, but 2 and 1M stay.
  const bw = lineChart({
    title: "Bandwidth",
    xLabel: "Message size (bytes)",
    yLabel: "Bandwidth (MB/s)",
    series: latencySeries(pow2(1, 20)),
  });
  const xl = tickLabels(bw, "x-axis");
  assert.equal(xl[0], "2");
  assert.equal(xl.at(-1), "1M");
  assert.ok(xl.length >= 8 && xl.length < 20, xl.join(" "));
  assert.deepEqual(svgProblems(bw), []);
  // The latency sweep (2 B … 16 KiB) fits: every size labelled.
  const lat = lineChart({
    title: "Latency",
    xLabel: "Message size (bytes)",
    yLabel: "Latency (µs)",
    series: latencySeries(pow2(1, 14)),
  });
  assert.deepEqual(tickLabels(lat, "x-axis"), pow2(1, 14).map(sizeLabel));
  // A narrow chart thins further and still labels both ends.
  const narrow = lineChart({
    title: "Latency",
    xLabel: "Message size (bytes)",
    yLabel: "Latency (µs)",
    width: 360,
    height: 300,
    series: latencySeries(pow2(1, 20)),
  });
  const nl = tickLabels(narrow, "x-axis");
  assert.equal(nl[0], "2");
  assert.equal(nl.at(-1), "1M");
  assert.deepEqual(svgProblems(narrow, [], { minFontPx: 11 * 720 / 360 / 2 }), []);
  // Scales: log2 from the power at or below the smallest value.
  const s = log2Scale([3, 1000], { lengthPx: 600, vertical: false });
  assert.deepEqual([s.ticks[0].value, s.ticks.at(-1)!.value], [2, 1024]);
  assert.ok(s.frac(3) > 0 && s.frac(1000) < 1);
  // log10 over less than two decades adds 2× and 5× ticks.
  assert.deepEqual(
    log10Scale([1.5, 40], { lengthPx: 300, vertical: true }).ticks.map((t) => t.label),
    ["1", "2", "5", "10", "20", "50", "100"],
  );
});

Deno.test("svg line chart: coinciding series stay identifiable", () => {
  const spec = latencySpec("RDMA WRITE latency");
  const svg = lineChart(spec);
  assert.deepEqual(svgProblems(svg, ["native", "bypass", "split"]), []);
  // Each series its own dash pattern and marker (filled, hollow alternate).
  const styles = [0, 1, 2, 3, 4, 5].map(seriesStyle);
  assert.equal(new Set(styles.map((s) => s.dash)).size, 6);
  assert.equal(new Set(styles.map((s) => `${s.marker}/${s.hollow}`)).size, 6);
  assert.equal(new Set(styles.map((s) => s.pattern)).size, 6);
  // Markers of native and bypass at the same size are set side by side.
  const markersOf = (label: string) =>
    find(svg, (e) => hasClass("markers")(e) && e.attrs["data-label"] === label)[0].children;
  const n = markersOf("native"), b = markersOf("bypass"), sp = markersOf("split");
  assert.equal(n.length, 14);
  assert.equal(n[0].name, "circle");
  assert.equal(b[0].name, "rect");
  assert.equal(b[0].attrs.fill, "#ffffff"); // hollow
  const nx = Number(n[0].attrs.cx), bx = Number(b[0].attrs.x) + 3.6;
  assert.ok(bx - nx >= 8, `native at ${nx}, bypass at ${bx}`);
  assert.ok(Math.abs(Number(n[0].attrs.cy) - (Number(b[0].attrs.y) + 3.6)) < 0.01);
  // Split is 7 µs away: its marker stays on its x.
  const line = find(svg, (e) => hasClass("series")(e) && e.attrs["data-label"] === "split")[0]
    .children[0].attrs.d;
  assert.ok(line.startsWith(`M${sp[0].attrs.d.match(/^M([\d.]+)/)![1]},`));
  // A note says which coincide; the lines keep their dash patterns.
  assert.match(svg, /native and bypass coincide at every point \(within 0\.1 %\)/);
  assert.match(svg, /stroke-dasharray="8 4"/);
  // Series that only touch get no note.
  const touching = lineChart({
    ...spec,
    series: [spec.series[0], { label: "other", points: [[2, 4.5], [4, 9]] }],
  });
  assert.ok(!touching.includes("coincide"));
  // Labels with commas are quoted in the note.
  const ev = lineChart({
    ...spec,
    series: [
      { label: "native, polling", points: [[2, 6], [64, 6.2]] },
      { label: "bypass, polling", points: [[2, 6], [64, 6.2]] },
    ],
  });
  assert.match(ev, /“native, polling” and “bypass, polling” coincide/);
});

Deno.test("svg line chart: ratio panel shows each series relative to the reference", () => {
  const sizes = pow2(1, 20);
  const native = sizes.map((s) => [s, Math.min(839, s / 2.4)] as [number, number]);
  const split = native.map(([x, y]) => [x, x < 2048 ? y * 0.75 : y] as [number, number]);
  const svg = lineChart({
    title: "RDMA WRITE bandwidth",
    xLabel: "Message size (bytes)",
    yLabel: "Bandwidth (MB/s)",
    ratioTo: "native",
    series: [
      { label: "native", points: native },
      { label: "bypass", points: native },
      { label: "split", points: split },
    ],
  });
  assert.deepEqual(svgProblems(svg, ["native", "bypass", "split"]), []);
  const panels = find(svg, hasClass("panel")).map((p) => p.attrs["data-panel"]);
  assert.deepEqual(panels, ["main", "ratio"]);
  // Only the bottom panel labels the shared x axis; the top one has grid lines only.
  assert.deepEqual(tickLabels(svg, "x-axis", "main"), []);
  assert.equal(tickLabels(svg, "x-axis", "ratio")[0], "2");
  const yr = tickLabels(svg, "y-axis", "ratio").map(Number);
  assert.ok(yr[0] <= 0.75 && yr.at(-1)! >= 1, yr.join(" "));
  assert.match(svg, /class="axis-label y-label"[^>]*>Ratio to native \(×\)</);
  // Split's small-size points sit at 0.75 on the ratio axis.
  const ratio = find(svg, (e) => hasClass("panel")(e) && e.attrs["data-panel"] === "ratio")[0];
  const tickY = (label: string) => {
    const walk = (e: SvgElement): SvgElement | undefined =>
      hasClass("tick")(e) && e.children.some((c) => c.text === label)
        ? e
        : e.children.map(walk).find((x) => x);
    return Number(walk(ratio)!.children[0].attrs.y1);
  };
  const splitRatio = (() => {
    const walk = (e: SvgElement): SvgElement | undefined =>
      hasClass("series")(e) && e.attrs["data-label"] === "split"
        ? e
        : e.children.map(walk).find((x) => x);
    return walk(ratio)!.children[0].attrs.d;
  })();
  const y0 = Number(splitRatio.match(/^M[\d.]+,([\d.]+)/)![1]);
  const [y1, y08] = [tickY("1"), tickY("0.8")];
  const at075 = y1 + (y08 - y1) * (0.25 / 0.2);
  assert.ok(Math.abs(y0 - at075) < 0.2, `${y0} vs ${at075}`);
  // A reference that names no series is a one-line error.
  assert.throws(
    () =>
      lineChart({
        title: "t",
        xLabel: "x (B)",
        yLabel: "y (µs)",
        ratioTo: "native",
        series: [{ label: "bypass", points: [[2, 1]] }],
      }),
    { message: 'lineChart: ratioTo "native" names no series (series: "bypass")' },
  );
  assert.throws(
    () => lineChart({ title: "t", xLabel: "x (B)", yLabel: "y (µs)", height: 150, series: [] }),
    /leaves -?\d+ px for the plot/,
  );
});

Deno.test("svg line chart: spread bands and error bars; bad numbers dropped", () => {
  const pts = pow2(1, 10).map((s) => [s, 5 + s / 100] as [number, number]);
  // Built afresh each time: the second rendering must not depend on the first.
  const spec = (): ChartSpec => ({
    title: "Latency with spread",
    xLabel: "Message size (bytes)",
    yLabel: "Latency (µs)",
    ratioTo: "native",
    series: [
      {
        label: "native",
        points: pts,
        spread: { label: "p1–p99", points: pts.map(([x, y]) => [x, y * 0.95, y * 1.1]) },
      },
      {
        label: "bypass",
        points: [...pts, [2048, NaN], [4096, Infinity]],
        spread: {
          label: "min–max",
          draw: "bars",
          points: pts.map(([x, y]) => [x, y * 0.9, y * 1.2]),
        },
      },
    ],
  });
  const svg = lineChart(spec());
  assert.deepEqual(svgProblems(svg, ["native", "bypass"]), []);
  assert.ok(!/NaN|Infinity/.test(svg));
  assert.equal(find(svg, hasClass("band")).length, 2); // main and ratio panel
  assert.equal(find(svg, hasClass("error-bar")).length, 2 * 10);
  assert.match(svg, /Shaded bands show p1–p99\./);
  assert.match(svg, /Error bars show min–max\./);
  // The axis covers the bands' highs.
  const top = Math.max(...tickLabels(svg, "y-axis").map(Number));
  assert.ok(top >= (5 + 1024 / 100) * 1.2);
  // Same input, same bytes.
  assert.equal(lineChart(spec()), svg);
});

const SETUP: BarChartSpec = {
  title: "Resource setup costs (control path)",
  valueLabel: "Time per operation (µs)",
  orientation: "horizontal",
  categories: ["openDevice", "allocPd", "createCq", "modifyQp (RESET→RTS)", "regMr (1 page)"],
  series: [
    { label: "native", values: [26.9, 2.3, 62.54, 66.9, 42.36] },
    { label: "bypass", values: [61.3, 14.3, 81.14, 102.9, 56.31] },
    { label: "split", values: [60.9, 14.3, 81.14, 102.9, null] },
  ],
};

Deno.test("svg bar chart: a value on every bar, full names, patterns, n/a", () => {
  const svg = barChart(SETUP);
  assert.deepEqual(svgProblems(svg, ["native", "bypass", "split"]), []);
  const values = find(svg, hasClass("value-label")).map((e) => e.text);
  assert.deepEqual(values.slice(0, 5), ["26.9", "2.30", "62.5", "66.9", "42.4"]);
  assert.equal(values.at(-1), "n/a");
  assert.equal(find(svg, hasClass("bar")).length, 14);
  assert.deepEqual(tickLabels(svg, "y-axis"), SETUP.categories);
  // Fill patterns tell the series apart without colour.
  assert.match(svg, /<pattern id="fill-1"/);
  assert.match(svg, /<pattern id="fill-2"/);
  assert.match(svg, /fill="url\(#fill-1\)"/);
  // Vertical: long names wrap, values turn when wider than a bar.
  const v = barChart({
    ...SETUP,
    orientation: "vertical",
    series: [...SETUP.series, { label: "split, no cache", values: [1, 2, 3, 4, 5] }],
    reference: { value: 50, label: "a reference at 50 µs" },
  });
  assert.deepEqual(svgProblems(v, ["split, no cache"]), []);
  assert.match(v, />modifyQp<\/text>/);
  assert.match(v, />\(RESET→RTS\)<\/text>/);
  assert.match(v, /class="value-label"[^>]*transform="rotate\(-90 /);
  assert.match(v, /class="reference"/);
  // Values are drawn after the reference line, on a white halo.
  assert.ok(v.indexOf(`class="reference"`) < v.indexOf(`class="values"`));
  assert.match(v, /class="value-label"[^>]*stroke="#ffffff"[^>]*paint-order="stroke"/);
  assert.match(v, /Dashed line: a reference at 50 µs\./);
  // Error bars, normalized values with a formatter.
  const norm = barChart({
    title: "NAS time normalized to native",
    valueLabel: "Time relative to native (×)",
    categories: ["IS", "CG"],
    series: [
      { label: "native", values: [1, 1] },
      {
        label: "bypass",
        values: [1.01, 1.02],
        spread: { label: "min–max", ranges: [[1, 1.03], null] },
      },
    ],
    reference: { value: 1, label: "native = 1" },
    format: (x) => `${x.toFixed(2)}×`,
  });
  assert.deepEqual(svgProblems(norm), []);
  assert.match(norm, />1\.02×<\/text>/);
  assert.equal(find(norm, hasClass("error-bar")).length, 1);
  assert.throws(
    () => barChart({ ...SETUP, series: [{ label: "x", values: [1] }] }),
    { message: 'barChart: series "x" has 1 values for 5 categories' },
  );
  assert.equal(barChart(SETUP), svg);
});

Deno.test("svg check: finds what makes a chart unfit to print", () => {
  const spec = latencySpec("Latency");
  const svg = lineChart(spec);
  assert.deepEqual(svgProblems(svg, ["native"]), []);
  const has = (s: string, re: RegExp) =>
    assert.ok(svgProblems(s).some((p) => re.test(p)), `${re}: ${svgProblems(s).join("; ")}`);
  // Well-formedness.
  has(svg.replace("</g>", ""), /closes|unclosed/);
  has(svg.replace(`x1="`, `x1=`), /malformed markup/);
  has(svg.replace(/x1="([\d.]+)"/, "x1=$1"), /unquoted attribute x1 on <line>/);
  has(svg.replace("<title>Latency", "<title>Latency & co"), /unescaped &/);
  // A series without a legend entry; a legend label asked for but missing.
  has(
    svg.replace(/<g class="legend-entry" data-label="bypass">[\s\S]*?<\/g>/, ""),
    /series 'bypass' has no legend entry/,
  );
  assert.ok(svgProblems(svg, ["vanished"]).includes("legend entry 'vanished' missing"));
  // A tick without its label (the old chart's missing 2 B), a tick mark alone.
  const no2 = svg.replace(/(<g class="tick">[^\n]*?)<text class="tick-label"[^>]*>2<\/text>/, "$1");
  has(no2, /x tick without a label/);
  has(
    svg.replace(
      /<g class="tick">(<line[^>]*\/>)<text class="tick-label"[^>]*>2<\/text><\/g>/,
      "$1",
    ),
    /tick marks without a label/,
  );
  // Data beyond the first labelled tick.
  has(
    svg.replace(/<g class="tick"><line[^>]*\/><text class="tick-label"[^>]*>2<\/text><\/g>/, "")
      .replace(/<line class="grid" x1="([\d.]+)"[^>]*y2="[\d.]+" stroke="#eeeeee"[^>]*\/>/, ""),
    /data beyond the x ticks/,
  );
  // Text outside the picture; too small; overlapping tick labels.
  has(
    svg.replace(/class="title" x="[\d.]+"/, `class="title" x="5"`),
    /extends outside the 720×440 viewBox/,
  );
  has(svg.replace(/font-size="13"/, `font-size="9"`), /is 9 px \(minimum 11 px\)/);
  has(
    svg.replace(/>4<\/text>/, ">444444444444</text>"),
    /tick labels .2. and .444444444444. overlap/,
  );
  // NaN or Infinity anywhere.
  has(svg.replace(/cy="[\d.]+"/, `cy="NaN"`), /non-finite number in <circle cy>/);
  has(svg.replace(/d="M[\d.]+/, `d="MInfinity`), /non-finite number in <path d>/);
  // The legend moved onto the data.
  const legendUp = svg.replace(
    /<g class="legend">\n<g class="legend-entry" data-label="native">\n(<line[^>]*\/>)/,
    (m) => m.replace(/y1="[\d.]+" x2="([\d.]+)" y2="[\d.]+"/, `y1="200" x2="$1" y2="200"`),
  );
  has(legendUp, /legend line overlaps the plot area/);
  // An axis label without a unit.
  has(svg.replace(">Latency (µs)<", ">Latency<"), /axis label 'Latency' names no unit/);
  // A bar without its value.
  has(
    barChart(SETUP).replace(/<text class="value-label"[^>]*>26\.9<\/text>/, ""),
    /1 bars without a value label/,
  );
  // Text extents follow anchors and rotations.
  const t = parseSvg(
    `<text x="18" y="100" font-size="10" text-anchor="middle" transform="rotate(-90 18 100)">0000</text>`,
  ).root!;
  const b = textBox(t)!;
  assert.ok(b.x1 - b.x0 < 11 && b.y1 - b.y0 > 25, JSON.stringify(b));
});
