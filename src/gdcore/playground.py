"""The learning-rate slider: one self-contained HTML page to play with gradient descent.

The page shows a 2-D function as a map whose colour bands are its contour lines, an optimizer
selector and a learning-rate slider. Every path was computed beforehand by gdcore's compiled core
(one per optimizer and rate of the grid), so the page needs no server and no network: moving the
slider redraws the path at once. Too small a rate crawls, a good one walks down into the valley,
too large a one overshoots and flies off.
"""

from __future__ import annotations

import json
import math

import numpy as np

from gdcore import _validate as check

__all__ = ["build_playground", "write_playground", "DEFAULT_VIEWS"]

# For each built-in function: the view (x range, y range), the start point, and the learning
# rates the slider spans (geometric grid).
DEFAULT_VIEWS = {
    "rosenbrock": dict(xlim=(-2.0, 2.0), ylim=(-1.0, 3.0), x0=(-1.5, 2.5), lrs=(1e-4, 1e-1)),
    "quadratic": dict(xlim=(-3.0, 3.0), ylim=(-3.0, 3.0), x0=(-2.5, 2.0), lrs=(1e-3, 1.0)),
    "himmelblau": dict(xlim=(-5.0, 5.0), ylim=(-5.0, 5.0), x0=(0.0, -0.5), lrs=(1e-4, 1e-1)),
    "beale": dict(xlim=(-4.5, 4.5), ylim=(-4.5, 4.5), x0=(1.0, 1.5), lrs=(1e-5, 1e-1)),
    "booth": dict(xlim=(-10.0, 10.0), ylim=(-10.0, 10.0), x0=(-8.0, 8.0), lrs=(1e-3, 1.0)),
    "rastrigin": dict(xlim=(-5.12, 5.12), ylim=(-5.12, 5.12), x0=(3.1, -2.2), lrs=(1e-4, 1e-1)),
    "saddle": dict(xlim=(-2.0, 2.0), ylim=(-2.0, 2.0), x0=(-1.8, 0.05), lrs=(1e-3, 1.0)),
}

_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>gdcore playground: __TITLE__</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 16px; color: #222; max-width: 760px; }
  #controls { margin: 10px 0; display: flex; gap: 14px; align-items: center; flex-wrap: wrap; }
  canvas { border: 1px solid #bbb; }
  #status { font-variant-numeric: tabular-nums; }
  pre#probe { display: none; }
</style>
</head>
<body>
<h2>Gradient descent on the __TITLE__ function</h2>
<p>The colour bands are the contour lines: every point of one band has (about) the same height.
Each step goes downhill, across the contour lines at right angles, by a distance set by the
learning rate. Move the slider: too small a rate crawls, a good one walks down into the valley,
too large a one overshoots and flies off.</p>
<div id="controls">
  <label>optimizer <select id="optimizer"></select></label>
  <label>learning rate <input type="range" id="lr" min="0" max="0" step="1" value="0"></label>
  <span id="status"></span>
</div>
<canvas id="map" width="__SIZE__" height="__SIZE__"></canvas>
<pre id="probe"></pre>
<script>
"use strict";
const DATA = __DATA__;
const canvas = document.getElementById("map");
const ctx = canvas.getContext("2d");
const select = document.getElementById("optimizer");
const slider = document.getElementById("lr");
const status = document.getElementById("status");
const size = canvas.width;

// The map: log-heights in bands, drawn once into an offscreen canvas.
const background = document.createElement("canvas");
background.width = size; background.height = size;
(function drawBackground() {
  const g = background.getContext("2d");
  const image = g.createImageData(size, size);
  const n = DATA.grid.n;
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      const i = Math.min(n - 1, Math.floor(px / size * n));
      const j = Math.min(n - 1, Math.floor((size - 1 - py) / size * n));
      const level = DATA.grid.levels[j * n + i];      // 0 .. bands-1, low to high
      const shade = level / (DATA.grid.bands - 1);
      const k = 4 * (py * size + px);
      const stripe = level % 2 === 0 ? 0 : 14;           // alternate bands: the contour lines
      image.data[k] = 40 + 200 * shade + stripe;
      image.data[k + 1] = 90 + 120 * (1 - Math.abs(shade - 0.5) * 2) + stripe;
      image.data[k + 2] = 230 - 190 * shade + stripe;
      image.data[k + 3] = 255;
    }
  }
  g.putImageData(image, 0, 0);
})();

function toPixel(p) {
  const [x0, x1] = DATA.xlim, [y0, y1] = DATA.ylim;
  return [(p[0] - x0) / (x1 - x0) * size, (1 - (p[1] - y0) / (y1 - y0)) * size];
}

function checksum() {
  const data = ctx.getImageData(0, 0, size, size).data;
  let sum = 0;
  for (let i = 0; i < data.length; i += 7) sum = (sum * 31 + data[i]) % 1000000007;
  return sum;
}

function draw() {
  const run = DATA.runs[select.value][Number(slider.value)];
  ctx.drawImage(background, 0, 0);
  for (const m of DATA.minima) {
    const [mx, my] = toPixel(m);
    ctx.fillStyle = "#fff"; ctx.beginPath(); ctx.arc(mx, my, 4, 0, 2 * Math.PI); ctx.fill();
  }
  ctx.strokeStyle = "#111"; ctx.lineWidth = 2; ctx.beginPath();
  run.path.forEach((p, k) => { const [x, y] = toPixel(p); k ? ctx.lineTo(x, y) : ctx.moveTo(x, y); });
  ctx.stroke();
  const [sx, sy] = toPixel(run.path[0]);
  ctx.fillStyle = "#0a0"; ctx.beginPath(); ctx.arc(sx, sy, 5, 0, 2 * Math.PI); ctx.fill();
  const last = run.path[run.path.length - 1];
  const [ex, ey] = toPixel(last);
  ctx.fillStyle = "#d00"; ctx.beginPath(); ctx.arc(ex, ey, 5, 0, 2 * Math.PI); ctx.fill();
  const lr = DATA.lrs[Number(slider.value)];
  status.textContent = `lr = ${lr.toPrecision(3)}, ${run.steps} steps, final value ` +
    `${run.final.toPrecision(4)}` + (run.diverged ? " (diverged: the rate is too large)" : "");
  document.getElementById("probe").textContent = JSON.stringify({
    optimizer: select.value, lr: lr, points: run.path.length, last: last,
    diverged: run.diverged, checksum: checksum()});
}

for (const name of Object.keys(DATA.runs)) {
  const option = document.createElement("option");
  option.value = name; option.textContent = name; select.appendChild(option);
}
slider.max = String(DATA.lrs.length - 1);
slider.value = String(DATA.start_index);
select.addEventListener("change", draw);
slider.addEventListener("input", draw);

// ?optimizer=adam&lr=7 sets the controls as a user would, then fires their events.
const query = new URLSearchParams(location.search);
if (query.has("optimizer")) { select.value = query.get("optimizer"); select.dispatchEvent(new Event("change")); }
if (query.has("lr")) { slider.value = query.get("lr"); slider.dispatchEvent(new Event("input")); }
draw();
</script>
</body>
</html>
"""


def build_playground(
    function: str = "rosenbrock",
    *,
    optimizers=("sgd", "momentum", "adam", "rmsprop"),
    n_rates: int = 25,
    steps: int = 300,
    grid: int = 150,
    bands: int = 24,
    size: int = 600,
    **function_options,
) -> str:
    """The playground page for a built-in 2-D function, as an HTML string.

    For every optimizer and each of ``n_rates`` learning rates (geometric grid over the function's
    default range, :data:`DEFAULT_VIEWS`) the path of ``steps`` updates from the default start is
    computed by :func:`gdcore.minimize` (wholly in C++). The map is the function on a ``grid`` ×
    ``grid`` lattice, shaded in ``bands`` bands of log-height.
    """
    from gdcore import functions
    from gdcore.minimize import minimize

    function = check.choice("function", function, tuple(DEFAULT_VIEWS))
    n_rates = check.integer("n_rates", n_rates, low=2)
    steps = check.integer("steps", steps, low=1)
    grid = check.integer("grid", grid, low=8)
    bands = check.integer("bands", bands, low=2)
    size = check.integer("size", size, low=100)
    view = DEFAULT_VIEWS[function]
    xs = np.linspace(*view["xlim"], grid)
    ys = np.linspace(*view["ylim"], grid)
    gx, gy = np.meshgrid(xs, ys)  # row j = y index, column i = x index
    values, _ = functions.evaluate(function, np.stack([gx.ravel(), gy.ravel()], axis=1),
                                   **function_options)
    floor = float(np.min(values))
    heights = np.log1p(np.maximum(values - floor, 0.0))
    edges = np.quantile(heights, np.linspace(0, 1, bands + 1)[1:-1])
    levels = np.digitize(heights, edges)
    lrs = np.geomspace(*view["lrs"], n_rates)
    runs = {}
    for name in optimizers:
        runs[name] = []
        for lr in lrs:
            result = minimize(function, view["x0"], optimizer=name, lr=float(lr), max_iter=steps,
                              tol=None, record=True, **function_options)  # fmt: skip
            path = np.asarray(result.path, dtype=np.float64)
            path = path[np.all(np.isfinite(path), axis=1)]
            # clip far-away points to a margin around the view so the line stays drawable
            span = np.array([view["xlim"][1] - view["xlim"][0], view["ylim"][1] - view["ylim"][0]])
            low = np.array([view["xlim"][0], view["ylim"][0]]) - span
            path = np.clip(path, low, low + 3 * span)
            runs[name].append(
                dict(
                    path=np.round(path, 5).tolist(),
                    steps=int(result.n_iter),
                    final=float(result.fun) if math.isfinite(result.fun) else 1e300,
                    diverged=getattr(result, "status", "") == "diverged",
                )
            )
    data = dict(
        xlim=list(view["xlim"]),
        ylim=list(view["ylim"]),
        lrs=[float(v) for v in lrs],
        start_index=n_rates // 2,
        minima=[list(map(float, m)) for m in functions.minimizers(function, **function_options)],
        grid=dict(n=grid, bands=bands, levels=levels.astype(int).tolist()),
        runs=runs,
    )
    page = _TEMPLATE.replace("__DATA__", json.dumps(data, separators=(",", ":")))
    return page.replace("__TITLE__", function.capitalize()).replace("__SIZE__", str(size))


def write_playground(path, function: str = "rosenbrock", **options) -> str:
    """Write :func:`build_playground`'s page to ``path``; returns the path."""
    page = build_playground(function, **options)
    with open(path, "w", encoding="utf-8") as out:
        out.write(page)
    return str(path)
